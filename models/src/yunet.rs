//! YuNet (2023mar): a small anchor-free face detector with five landmarks, three strides (8, 16,
//! 32), each cell giving a class score, an objectness score, a box and the landmarks. The network
//! takes a BGR image of any size that is a multiple of 32; a greyscale image is fed as three equal
//! channels. One optimised tract plan is kept per input size.

use crate::{Detection, FaceDetector, GreyView, ModelError, Point, manifest, tract_error};
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::prelude::*;

type Plan = std::sync::Arc<TypedRunnableModel>;

/// The YuNet detector.
pub struct YuNet {
    bytes: Vec<u8>,
    plans: HashMap<(u32, u32), Plan>,
}

const STRIDES: [u32; 3] = [8, 16, 32];
const NMS_IOU: f32 = 0.3;

impl YuNet {
    /// Loads `face_detection_yunet_2023mar.onnx` from `dir`, checked against the manifest.
    pub fn load(dir: &Path) -> Result<YuNet, ModelError> {
        let manifest = manifest::Manifest::builtin();
        let bytes = manifest::load_verified(dir, manifest.get("yunet")?)?;
        Ok(YuNet { bytes, plans: HashMap::new() })
    }

    /// Per-operator times of one detection on `image` (see [`crate::profile`]).
    pub fn profile(&mut self, image: GreyView<'_>, rounds: usize) -> Result<Vec<crate::profile::OpTime>, ModelError> {
        let (w, h, input) = input(image);
        let plan = self.plan(w, h)?.clone();
        crate::profile::profile("yunet", &plan, input, rounds)
    }

    fn plan(&mut self, width: u32, height: u32) -> Result<&Plan, ModelError> {
        if !self.plans.contains_key(&(width, height)) {
            let plan = tract_onnx::onnx()
                .model_for_read(&mut std::io::Cursor::new(&self.bytes))
                .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, height as usize, width as usize]).into()))
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
                .map_err(|e| tract_error("yunet", e))?;
            self.plans.insert((width, height), plan);
        }
        Ok(&self.plans[&(width, height)])
    }
}

/// The network's input for `image`: padded to multiples of 32, grey as three equal channels.
fn input(image: GreyView<'_>) -> (u32, u32, Tensor) {
    let (w, h) = (image.width.div_ceil(32) * 32, image.height.div_ceil(32) * 32);
    let input = tract_ndarray::Array4::from_shape_fn((1, 3, h as usize, w as usize), |(_, _, y, x)| {
        f32::from(image.at(x as i64, y as i64))
    });
    (w, h, Tensor::from(input))
}

fn iou(a: &Detection, b: &Detection) -> f32 {
    let x1 = a.x.max(b.x);
    let y1 = a.y.max(b.y);
    let x2 = (a.x + a.width).min(b.x + b.width);
    let y2 = (a.y + a.height).min(b.y + b.height);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    inter / (a.width * a.height + b.width * b.height - inter).max(1e-6)
}

impl FaceDetector for YuNet {
    fn detect(&mut self, image: GreyView<'_>, min_score: f32) -> Result<Vec<Detection>, ModelError> {
        let (w, h, input) = input(image);
        let plan = self.plan(w, h)?;
        let outputs = plan.run(tvec!(input.into())).map_err(|e| tract_error("yunet", e))?;
        // Outputs in the model's order: cls_8/16/32, obj_8/16/32, bbox_8/16/32, kps_8/16/32.
        let view = |i: usize| outputs[i].to_plain_array_view::<f32>().map_err(|e| tract_error("yunet", e));
        let mut found = Vec::new();
        for (k, &stride) in STRIDES.iter().enumerate() {
            let (cls, obj, bbox, kps) = (view(k)?, view(3 + k)?, view(6 + k)?, view(9 + k)?);
            let (cls, obj, bbox, kps) = (
                cls.as_slice().unwrap_or(&[]),
                obj.as_slice().unwrap_or(&[]),
                bbox.as_slice().unwrap_or(&[]),
                kps.as_slice().unwrap_or(&[]),
            );
            let cols = (w / stride) as usize;
            let cells = cols * (h / stride) as usize;
            if cls.len() < cells || obj.len() < cells || bbox.len() < cells * 4 || kps.len() < cells * 10 {
                return Err(tract_error("yunet", "unexpected output size"));
            }
            let s = stride as f32;
            for i in 0..cells {
                let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                if score < min_score {
                    continue;
                }
                let (c, r) = ((i % cols) as f32, (i / cols) as f32);
                let b = &bbox[i * 4..i * 4 + 4];
                let (cx, cy) = ((c + b[0]) * s, (r + b[1]) * s);
                let (bw, bh) = (b[2].exp() * s, b[3].exp() * s);
                let p = &kps[i * 10..i * 10 + 10];
                let landmarks = core::array::from_fn(|j| Point { x: (p[2 * j] + c) * s, y: (p[2 * j + 1] + r) * s });
                found.push(Detection { x: cx - bw / 2.0, y: cy - bh / 2.0, width: bw, height: bh, score, landmarks });
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::new();
        for d in found {
            if kept.iter().all(|k| iou(k, &d) < NMS_IOU) {
                kept.push(d);
            }
        }
        Ok(kept)
    }
}
