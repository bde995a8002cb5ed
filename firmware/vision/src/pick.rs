//! Which face is the patient's: at the counter the patient is close and central, while people in
//! the queue behind are smaller and off-centre. Each face scores its box area minus twice its
//! squared distance from the image centre (both relative to the image), which in the reference
//! measurement halved the errors of "highest detector score".

use crate::Detection;

/// The patient's face among `faces` in a `width` x `height` image, if any.
pub fn patient(faces: &[Detection], width: u32, height: u32) -> Option<&Detection> {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let score = |d: &Detection| {
        let area = (d.width * d.height) / (w * h);
        let (cx, cy) = ((d.x + d.width / 2.0) / w - 0.5, (d.y + d.height / 2.0) / h - 0.5);
        area - 2.0 * (cx * cx + cy * cy)
    };
    faces.iter().max_by(|a, b| score(a).total_cmp(&score(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Point;

    fn face(x: f32, y: f32, size: f32, score: f32) -> Detection {
        Detection { x, y, width: size, height: size, score, landmarks: [Point { x: 0.0, y: 0.0 }; 5] }
    }

    #[test]
    fn the_close_central_face_wins_over_a_sharper_one_behind() {
        let patient_face = face(220.0, 140.0, 200.0, 0.80);
        let behind = face(10.0, 10.0, 60.0, 0.95);
        let faces = [behind, patient_face.clone()];
        assert_eq!(patient(&faces, 640, 480), Some(&patient_face));
        assert_eq!(patient(&[], 640, 480), None);
    }
}
