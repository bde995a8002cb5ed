//! Turning a package's ONNX file into the one the reader loads (`cargo xtask models`).
//!
//! - `clear-shapes`: YuNet stores every intermediate shape for a 640x640 input; clearing them (and
//!   the output types) lets tract load the model for the camera's own size.
//! - `dequantize`: SFace ships int8 weights quantized in blocks (`DequantizeLinear`, opset 21,
//!   `block_size`), which tract does not load. Each such node whose inputs are all constants becomes
//!   an fp32 constant: `y = (x - zero_point) * scale`, the scale and zero point of element `i`
//!   being those of block `i[axis] / block_size` (or per tensor / per axis without `block_size`).
//!   The result is deterministic (same bytes on every run), so its sha256 can be recorded.
//! - `dequantize-prelu-max`: the same, then every PReLU whose slopes are all at most 1 written as
//!   `max(x, slope * x)` (identical values; tract's PReLU costs three element-wise passes, this two).
//! - `fold-int8-weights`: PP-OCRv6 tiny (as tinyocr packs it) stores its weights as int8 and a
//!   per-channel scale, multiplied at every run (`Mul(Cast(w), scale)`), which tract cannot analyse
//!   as a convolution's kernel. Each such product becomes the fp32 constant it computes; the
//!   intermediate shapes (symbolic batch sizes) are cleared as for YuNet.

use crate::manifest::Conversion;
use prost::Message;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{ModelProto, TensorProto, tensor_proto::DataType};

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Not an ONNX model.
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A tensor the conversion needs is malformed or of a type it does not handle.
    #[error("tensor {0}: {1}")]
    Tensor(String, String),
}

/// Applies `conversion` to the ONNX bytes.
pub fn convert(bytes: &[u8], conversion: Conversion) -> Result<Vec<u8>, ConvertError> {
    let mut model = ModelProto::decode(bytes)?;
    match conversion {
        Conversion::None => return Ok(bytes.to_vec()),
        Conversion::ClearShapes => clear_shapes(&mut model),
        Conversion::Dequantize => dequantize(&mut model)?,
        Conversion::DequantizePreluMax => {
            dequantize(&mut model)?;
            prelu_as_max(&mut model)?;
        }
        Conversion::FoldInt8Weights => {
            fold_int8_weights(&mut model)?;
            clear_shapes(&mut model);
        }
    }
    Ok(model.encode_to_vec())
}

fn clear_shapes(model: &mut ModelProto) {
    if let Some(graph) = model.graph.as_mut() {
        graph.value_info.clear();
        for output in &mut graph.output {
            output.r#type = None;
        }
    }
}

fn tensor_values(t: &TensorProto) -> Result<Vec<f32>, ConvertError> {
    let err = |m: &str| ConvertError::Tensor(t.name.clone(), m.to_string());
    let count: i64 = t.dims.iter().product();
    let values: Vec<f32> = match DataType::try_from(t.data_type).map_err(|_| err("unknown data type"))? {
        DataType::Float if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
        DataType::Float => t.float_data.clone(),
        DataType::Int8 if !t.raw_data.is_empty() => t.raw_data.iter().map(|&b| f32::from(b as i8)).collect(),
        DataType::Uint8 if !t.raw_data.is_empty() => t.raw_data.iter().map(|&b| f32::from(b)).collect(),
        DataType::Int8 | DataType::Uint8 => t.int32_data.iter().map(|&v| v as f32).collect(),
        other => return Err(err(&format!("data type {other:?} is not handled"))),
    };
    if values.len() as i64 != count.max(1) && !(t.dims.is_empty() && values.len() == 1) {
        return Err(err(&format!("holds {} values for dims {:?}", values.len(), t.dims)));
    }
    Ok(values)
}

fn dequantize(model: &mut ModelProto) -> Result<(), ConvertError> {
    let Some(graph) = model.graph.as_mut() else { return Ok(()) };
    let initializers: HashMap<String, TensorProto> =
        graph.initializer.iter().map(|t| (t.name.clone(), t.clone())).collect();
    let mut new_constants = Vec::new();
    let mut kept_nodes = Vec::new();
    for node in std::mem::take(&mut graph.node) {
        let constant_inputs = node.input.iter().all(|i| i.is_empty() || initializers.contains_key(i));
        if node.op_type != "DequantizeLinear" || !constant_inputs || node.output.len() != 1 {
            kept_nodes.push(node);
            continue;
        }
        let attr = |name: &str| node.attribute.iter().find(|a| a.name == name).map(|a| a.i);
        let x = &initializers[&node.input[0]];
        let scale = tensor_values(&initializers[&node.input[1]])?;
        let zero = match node.input.get(2).filter(|n| !n.is_empty()) {
            Some(name) => tensor_values(&initializers[name])?,
            None => vec![0.0; scale.len()],
        };
        let values = tensor_values(x)?;
        let dims: Vec<usize> = x.dims.iter().map(|&d| d as usize).collect();
        let rank = dims.len() as i64;
        let axis = attr("axis").unwrap_or(1);
        let axis = if axis < 0 { axis + rank } else { axis }.clamp(0, (rank - 1).max(0)) as usize;
        let block = attr("block_size").unwrap_or(0).max(0) as usize;
        // Strides of x, and of the scale tensor (x's shape with the axis divided into blocks).
        let mut scale_dims = dims.clone();
        if scale.len() > 1 && !dims.is_empty() {
            if block > 0 {
                scale_dims[axis] = dims[axis].div_ceil(block);
            } else {
                scale_dims = dims.iter().enumerate().map(|(i, &d)| if i == axis { d } else { 1 }).collect();
            }
        }
        let strides = |d: &[usize]| {
            let mut s = vec![1usize; d.len()];
            for i in (0..d.len().saturating_sub(1)).rev() {
                s[i] = s[i + 1] * d[i + 1];
            }
            s
        };
        let (x_strides, s_strides) = (strides(&dims), strides(&scale_dims));
        let mut out = Vec::with_capacity(values.len() * 4);
        for (index, &v) in values.iter().enumerate() {
            let s_index = if scale.len() == 1 {
                0
            } else {
                let mut rest = index;
                let mut s_index = 0;
                for k in 0..dims.len() {
                    let mut coord = rest / x_strides[k];
                    rest %= x_strides[k];
                    if k == axis && block > 0 {
                        coord /= block;
                    } else if scale_dims[k] == 1 {
                        coord = 0;
                    }
                    s_index += coord * s_strides[k];
                }
                s_index
            };
            let (s, z) = (
                *scale.get(s_index).ok_or_else(|| ConvertError::Tensor(x.name.clone(), "scale too short".into()))?,
                *zero.get(s_index).unwrap_or(&0.0),
            );
            out.extend_from_slice(&((v - z) * s).to_le_bytes());
        }
        new_constants.push(TensorProto {
            name: node.output[0].clone(),
            dims: x.dims.clone(),
            data_type: DataType::Float as i32,
            raw_data: out,
            ..Default::default()
        });
    }
    graph.node = kept_nodes;
    replace_constants(graph, new_constants);
    Ok(())
}

/// Adds `new_constants` and keeps only the initializers (and graph inputs) something still uses.
fn replace_constants(graph: &mut tract_onnx::pb::GraphProto, new_constants: Vec<TensorProto>) {
    let used: HashSet<&String> =
        graph.node.iter().flat_map(|n| n.input.iter()).chain(graph.output.iter().map(|o| &o.name)).collect();
    let mut initializer: Vec<TensorProto> =
        graph.initializer.iter().filter(|t| used.contains(&t.name)).cloned().collect();
    initializer.extend(new_constants.into_iter().filter(|t| used.contains(&t.name)));
    // Older exporters also list every weight as a graph input; a listed input nothing consumes
    // any more (the quantized weights) would become an input tract expects to be fed.
    let inputs = std::mem::take(&mut graph.input);
    graph.input = inputs.into_iter().filter(|i| used.contains(&i.name)).collect();
    graph.initializer = initializer;
}

/// `Mul(Cast(w_int8, to=float), scale)` with both constant becomes the fp32 constant it computes
/// (the same single-precision products the runtime would compute at every run).
fn fold_int8_weights(model: &mut ModelProto) -> Result<(), ConvertError> {
    let Some(graph) = model.graph.as_mut() else { return Ok(()) };
    let initializers: HashMap<String, TensorProto> =
        graph.initializer.iter().map(|t| (t.name.clone(), t.clone())).collect();
    let casts: HashMap<String, &TensorProto> = graph
        .node
        .iter()
        .filter(|n| {
            n.op_type == "Cast"
                && n.input.len() == 1
                && n.attribute.iter().any(|a| a.name == "to" && a.i == DataType::Float as i64)
                && initializers.get(&n.input[0]).is_some_and(|t| t.data_type == DataType::Int8 as i32)
        })
        .map(|n| (n.output[0].clone(), &initializers[&n.input[0]]))
        .collect();
    let mut new_constants = Vec::new();
    let mut folded_casts = HashSet::new();
    let mut kept = Vec::new();
    for node in &graph.node {
        let pair = (node.op_type == "Mul" && node.input.len() == 2)
            .then(|| {
                let (a, b) = (&node.input[0], &node.input[1]);
                match (casts.get(a), initializers.get(b), casts.get(b), initializers.get(a)) {
                    (Some(w), Some(s), _, _) if s.data_type == DataType::Float as i32 => Some((a, *w, s)),
                    (_, _, Some(w), Some(s)) if s.data_type == DataType::Float as i32 => Some((b, *w, s)),
                    _ => None,
                }
            })
            .flatten();
        let Some((cast_out, w, scale)) = pair else {
            kept.push(node.clone());
            continue;
        };
        let (values, scales) = (tensor_values(w)?, tensor_values(scale)?);
        let dims: Vec<usize> = w.dims.iter().map(|&d| d as usize).collect();
        // Numpy broadcasting of the scale (right-aligned, dims of 1 repeat).
        let mut sdims = vec![1usize; dims.len().saturating_sub(scale.dims.len())];
        sdims.extend(scale.dims.iter().map(|&d| d as usize));
        if sdims.len() != dims.len() || sdims.iter().zip(&dims).any(|(&s, &d)| s != 1 && s != d) {
            return Err(ConvertError::Tensor(scale.name.clone(), "does not broadcast to the weights".into()));
        }
        let mut out = Vec::with_capacity(values.len() * 4);
        for (index, &v) in values.iter().enumerate() {
            let (mut rest, mut s_index, mut s_stride) = (index, 0, 1);
            let mut coords = vec![0; dims.len()];
            for k in (0..dims.len()).rev() {
                coords[k] = rest % dims[k];
                rest /= dims[k];
            }
            for k in (0..dims.len()).rev() {
                if sdims[k] != 1 {
                    s_index += coords[k] * s_stride;
                }
                s_stride *= sdims[k];
            }
            out.extend_from_slice(&(v * scales[s_index]).to_le_bytes());
        }
        folded_casts.insert(cast_out.clone());
        new_constants.push(TensorProto {
            name: node.output[0].clone(),
            dims: w.dims.clone(),
            data_type: DataType::Float as i32,
            raw_data: out,
            ..Default::default()
        });
    }
    // A Cast whose every consumer was folded goes too.
    let still_used: HashSet<&String> = kept.iter().flat_map(|n| n.input.iter()).collect();
    let kept: Vec<_> = kept
        .iter()
        .filter(|n| !(n.op_type == "Cast" && folded_casts.contains(&n.output[0]) && !still_used.contains(&n.output[0])))
        .cloned()
        .collect();
    graph.node = kept;
    replace_constants(graph, new_constants);
    Ok(())
}

/// `PRelu(x, slope)` with a constant slope whose values are all at most 1 becomes
/// `Max(x, Mul(x, slope))`: for x >= 0, x >= slope * x; for x < 0, slope * x >= x; so the maximum
/// is PReLU's value, bit for bit. Nodes with a slope above 1 (the maximum would pick x) stay.
fn prelu_as_max(model: &mut ModelProto) -> Result<(), ConvertError> {
    let Some(graph) = model.graph.as_mut() else { return Ok(()) };
    let slopes: HashMap<String, Vec<f32>> = graph
        .initializer
        .iter()
        .filter(|t| t.data_type == DataType::Float as i32)
        .map(|t| Ok((t.name.clone(), tensor_values(t)?)))
        .collect::<Result<_, ConvertError>>()?;
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let rewritable = node.op_type == "PRelu"
            && node.input.len() == 2
            && node.output.len() == 1
            && slopes.get(&node.input[1]).is_some_and(|s| !s.is_empty() && s.iter().all(|&a| a <= 1.0));
        if !rewritable {
            nodes.push(node);
            continue;
        }
        let scaled = format!("{}_slope_times_x", node.output[0]);
        nodes.push(tract_onnx::pb::NodeProto {
            name: format!("{}_mul", node.name),
            op_type: "Mul".into(),
            input: vec![node.input[0].clone(), node.input[1].clone()],
            output: vec![scaled.clone()],
            ..Default::default()
        });
        nodes.push(tract_onnx::pb::NodeProto {
            name: format!("{}_max", node.name),
            op_type: "Max".into(),
            input: vec![node.input[0].clone(), scaled],
            output: node.output.clone(),
            ..Default::default()
        });
    }
    graph.node = nodes;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, ValueInfoProto};
    use tract_onnx::prelude::*;

    fn int8(name: &str, dims: &[i64], v: &[i8]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: DataType::Int8 as i32,
            raw_data: v.iter().map(|&b| b as u8).collect(),
            ..Default::default()
        }
    }

    fn float(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: DataType::Float as i32,
            float_data: v.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn blocks_along_axis_one_use_their_own_scale_and_zero_point() {
        // x is 2x4, blocks of 2 along axis 1: scales [[1, 10], [100, 1000]], zero points [[0, 1], [2, 3]].
        let graph = GraphProto {
            node: vec![
                NodeProto {
                    op_type: "DequantizeLinear".into(),
                    input: vec!["x".into(), "s".into(), "z".into()],
                    output: vec!["w".into()],
                    attribute: vec![
                        AttributeProto { name: "axis".into(), i: 1, r#type: 2, ..Default::default() },
                        AttributeProto { name: "block_size".into(), i: 2, r#type: 2, ..Default::default() },
                    ],
                    ..Default::default()
                },
                NodeProto {
                    op_type: "Identity".into(),
                    input: vec!["w".into()],
                    output: vec!["y".into()],
                    ..Default::default()
                },
            ],
            initializer: vec![
                int8("x", &[2, 4], &[1, 2, 3, 4, 5, 6, 7, 8]),
                float("s", &[2, 2], &[1.0, 10.0, 100.0, 1000.0]),
                int8("z", &[2, 2], &[0, 1, 2, 3]),
            ],
            output: vec![ValueInfoProto { name: "y".into(), ..Default::default() }],
            ..Default::default()
        };
        let model = ModelProto { graph: Some(graph), ..Default::default() };
        let converted = ModelProto::decode(&*convert(&model.encode_to_vec(), Conversion::Dequantize).unwrap()).unwrap();
        let graph = converted.graph.unwrap();
        assert_eq!(graph.node.len(), 1, "the DequantizeLinear node is gone");
        assert_eq!(graph.initializer.len(), 1, "only the fp32 constant is left");
        let w = tensor_values(&graph.initializer[0]).unwrap();
        assert_eq!(w, vec![1.0, 2.0, 20.0, 30.0, 300.0, 400.0, 4000.0, 5000.0]);
        // Deterministic: the same input gives the same bytes.
        assert_eq!(
            convert(&model.encode_to_vec(), Conversion::Dequantize).unwrap(),
            convert(&model.encode_to_vec(), Conversion::Dequantize).unwrap()
        );
    }

    #[test]
    fn prelu_with_slopes_up_to_one_becomes_max_of_x_and_slope_x_with_the_same_values() {
        // Two PReLUs on a 1x2x1x3 input: slopes (0.25, -0.5) are rewritten, (1.5, 0.5) stay.
        let prelu = |x: &str, s: &str, y: &str| NodeProto {
            name: y.into(),
            op_type: "PRelu".into(),
            input: vec![x.into(), s.into()],
            output: vec![y.into()],
            ..Default::default()
        };
        let graph = GraphProto {
            node: vec![prelu("x", "s1", "h"), prelu("h", "s2", "y")],
            initializer: vec![float("s1", &[2, 1, 1], &[0.25, -0.5]), float("s2", &[2, 1, 1], &[1.5, 0.5])],
            input: vec![ValueInfoProto {
                name: "x".into(),
                r#type: Some(tract_onnx::pb::TypeProto {
                    value: Some(tract_onnx::pb::type_proto::Value::TensorType(tract_onnx::pb::type_proto::Tensor {
                        elem_type: DataType::Float as i32,
                        shape: None,
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            output: vec![ValueInfoProto { name: "y".into(), ..Default::default() }],
            ..Default::default()
        };
        let opset = tract_onnx::pb::OperatorSetIdProto { version: 13, ..Default::default() };
        let model = ModelProto { graph: Some(graph), opset_import: vec![opset], ..Default::default() };
        let before = model.encode_to_vec();
        let after = convert(&before, Conversion::DequantizePreluMax).unwrap();
        let ops: Vec<String> =
            ModelProto::decode(&*after).unwrap().graph.unwrap().node.iter().map(|n| n.op_type.clone()).collect();
        assert_eq!(ops, ["Mul", "Max", "PRelu"]);
        let run = |bytes: &[u8]| -> Vec<f32> {
            let plan = tract_onnx::onnx()
                .model_for_read(&mut std::io::Cursor::new(bytes))
                .and_then(|m| m.with_input_fact(0, f32::fact([1, 2, 1, 3]).into()))
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
                .unwrap();
            let x =
                tract_ndarray::Array4::from_shape_vec((1, 2, 1, 3), vec![-3.0f32, 0.0, 2.5, -0.7, 1.0, -8.0]).unwrap();
            let out = plan.run(tvec!(Tensor::from(x).into())).unwrap();
            out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
        };
        let (a, b) = (run(&before), run(&after));
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // PReLU by hand: channel 0 slopes 0.25 then 1.5, channel 1 slopes -0.5 then 0.5.
        assert_eq!(a, vec![-3.0 * 0.25 * 1.5, 0.0, 2.5, 0.35, 1.0, 4.0]);
    }
}
