//! SFace (2021dec): a MobileFaceNet-style embedder giving 128 dimensions for a 112x112 face
//! aligned to the ArcFace reference landmarks. The graph normalises its input itself
//! (`(x - 127.5) / 128`); it takes RGB ([`SFace::embed_colour`]), a greyscale face is fed as
//! three equal channels.

use crate::{Embedding, FaceEmbedder, GreyView, ModelError, manifest, tract_error};
use std::path::Path;
use tract_onnx::prelude::*;

/// The input side of the aligned face.
pub const SIZE: u32 = 112;

/// The SFace embedder.
pub struct SFace {
    plan: std::sync::Arc<TypedRunnableModel>,
}

impl SFace {
    /// Loads the dequantized SFace from `dir`, checked against the manifest.
    pub fn load(dir: &Path) -> Result<SFace, ModelError> {
        let manifest = manifest::Manifest::builtin();
        let bytes = manifest::load_verified(dir, manifest.get("sface")?)?;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(&bytes))
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, SIZE as usize, SIZE as usize]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| tract_error("sface", e))?;
        Ok(SFace { plan })
    }
}

/// The network's input for an aligned face given as its red, green and blue planes (a grey
/// face is one plane three times).
fn input(planes: [GreyView<'_>; 3]) -> Tensor {
    Tensor::from(tract_ndarray::Array4::from_shape_fn((1, 3, SIZE as usize, SIZE as usize), |(_, c, y, x)| {
        f32::from(planes[c].at(x as i64, y as i64))
    }))
}

impl SFace {
    /// The embedding of an aligned colour face, given as its red, green and blue planes (the
    /// order the network was trained on), each 112x112.
    pub fn embed_colour(&mut self, planes: [GreyView<'_>; 3]) -> Result<Embedding, ModelError> {
        if let Some(p) = planes.iter().find(|p| p.width != SIZE || p.height != SIZE) {
            return Err(tract_error("sface", format!("needs a {SIZE}x{SIZE} face, got {}x{}", p.width, p.height)));
        }
        let outputs = self.plan.run(tvec!(input(planes).into())).map_err(|e| tract_error("sface", e))?;
        let out = outputs[0].to_plain_array_view::<f32>().map_err(|e| tract_error("sface", e))?;
        Ok(Embedding::from_raw(out.iter().copied().collect()))
    }

    /// Per-operator times of one embedding of `aligned` (see [`crate::profile`]).
    pub fn profile(&self, aligned: GreyView<'_>, rounds: usize) -> Result<Vec<crate::profile::OpTime>, ModelError> {
        crate::profile::profile("sface", &self.plan, input([aligned; 3]), rounds)
    }
}

impl FaceEmbedder for SFace {
    fn embed(&mut self, aligned: GreyView<'_>) -> Result<Embedding, ModelError> {
        self.embed_colour([aligned; 3])
    }
}
