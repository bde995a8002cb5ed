//! Where a network spends its time: each node of the optimised tract plan timed on one input,
//! summed per operator kind. Used by `cargo xtask bench-face` to see which operators make tract
//! slower than onnxruntime on the same model; never on the reader's path.

use crate::{ModelError, tract_error};
use std::collections::BTreeMap;
use std::time::Instant;
use tract_onnx::prelude::*;

/// Time spent in one kind of operator over a profiled run.
#[derive(Clone, Debug)]
pub struct OpTime {
    /// The operator's name in tract's optimised plan (e.g. `Conv`, `OptMatMul`, `DeconvSum`).
    pub op: String,
    /// How many nodes of this kind the plan has.
    pub nodes: usize,
    /// Milliseconds per run, summed over those nodes (median over the rounds per node kind).
    pub ms: f64,
}

/// Runs `plan` on `input` `rounds` times (after one warm-up) and returns the per-operator
/// times, the slowest first.
pub(crate) fn profile(
    name: &str,
    plan: &std::sync::Arc<TypedRunnableModel>,
    input: Tensor,
    rounds: usize,
) -> Result<Vec<OpTime>, ModelError> {
    let mut per_round: Vec<BTreeMap<String, (usize, f64)>> = Vec::new();
    for round in 0..=rounds.max(1) {
        let mut state = plan.spawn().map_err(|e| tract_error(name, e))?;
        let mut times: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        state
            .run_plan_with_eval(tvec!(input.clone().into()), |ctx, op_state, node, inputs| {
                let t = Instant::now();
                let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                let e = times.entry(node.op().name().to_string()).or_default();
                e.0 += 1;
                e.1 += t.elapsed().as_secs_f64() * 1000.0;
                out
            })
            .map_err(|e| tract_error(name, e))?;
        if round > 0 {
            per_round.push(times);
        }
    }
    let mut out: Vec<OpTime> = per_round[0]
        .iter()
        .map(|(op, (nodes, _))| {
            let mut v: Vec<f64> = per_round.iter().map(|r| r.get(op).map_or(0.0, |x| x.1)).collect();
            v.sort_by(f64::total_cmp);
            OpTime { op: op.clone(), nodes: *nodes, ms: v[v.len() / 2] }
        })
        .collect();
    out.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(out)
}
