//! The printed layout of the front of the My Number card (個人番号カード, the design issued since
//! 2016), in millimetres from the card's top-left corner, as read off the public sample card. It
//! places the three fields 照合番号B is made of: the birth-date line (with the sex to its right),
//! the expiry inside its framed box, and the security code after its label; the name and address
//! above, the photo on the right. The positions are approximate (±1 mm, see `docs/ocr.md`): the
//! pipeline searches a window around each field rather than trusting an exact position.

/// Card width (ISO/IEC 7810 ID-1).
pub const CARD_WIDTH_MM: f32 = 85.6;
/// Card height.
pub const CARD_HEIGHT_MM: f32 = 54.0;
/// Pixels per millimetre of the rectified card the pipeline reads.
pub const PX_PER_MM: f32 = 10.0;
/// Rectified card width in pixels.
pub const RECT_WIDTH: u32 = 856;
/// Rectified card height in pixels.
pub const RECT_HEIGHT: u32 = 540;

/// A rectangle in card millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left.
    pub x0: f32,
    /// Top.
    pub y0: f32,
    /// Right.
    pub x1: f32,
    /// Bottom.
    pub y1: f32,
}

/// A printed line: where its text starts, its baseline, and its nominal character height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// Left edge of the first character.
    pub x: f32,
    /// Baseline.
    pub baseline: f32,
    /// Character height (em size).
    pub size: f32,
}

/// 「氏名」 label.
pub const NAME_LABEL: Line = Line { x: 3.0, baseline: 8.4, size: 2.3 };
/// The name.
pub const NAME: Line = Line { x: 10.0, baseline: 9.0, size: 4.4 };
/// 「住所」 label.
pub const ADDRESS_LABEL: Line = Line { x: 3.0, baseline: 15.6, size: 2.3 };
/// First address line (a second one 4 mm below).
pub const ADDRESS: Line = Line { x: 10.0, baseline: 15.6, size: 3.0 };
/// The birth-date line: 「昭和55年 2月17日生」.
pub const BIRTH: Line = Line { x: 3.0, baseline: 30.8, size: 3.2 };
/// 「性別 女」 to the right of the birth date.
pub const SEX: Line = Line { x: 38.0, baseline: 30.8, size: 3.0 };
/// The frame around the expiry.
pub const EXPIRY_BOX: Rect = Rect { x0: 2.5, y0: 34.0, x1: 47.0, y1: 40.6 };
/// The expiry: 「2035年 2月17日まで有効」.
pub const EXPIRY: Line = Line { x: 4.0, baseline: 38.6, size: 3.2 };
/// 「セキュリティコード」 label.
pub const CODE_LABEL: Line = Line { x: 3.0, baseline: 45.4, size: 2.0 };
/// The four digits of the security code.
pub const CODE: Line = Line { x: 23.0, baseline: 45.6, size: 3.0 };
/// 「個人番号カード」.
pub const TITLE: Line = Line { x: 3.0, baseline: 51.6, size: 3.4 };
/// The holder's photograph.
pub const PHOTO: Rect = Rect { x0: 60.0, y0: 7.5, x1: 82.5, y1: 37.0 };

/// Where the pipeline looks for each field: generous windows around the printed lines that keep
/// clear of their neighbours (the sex on the right of the birth date, the expiry's frame, the
/// security code's label).
pub const BIRTH_WINDOW: Rect = Rect { x0: 1.0, y0: 25.5, x1: 36.5, y1: 32.9 };
/// The expiry's search window (inside its frame).
pub const EXPIRY_WINDOW: Rect = Rect { x0: 3.0, y0: 34.6, x1: 46.4, y1: 40.0 };
/// The security code's search window (right of its label).
pub const CODE_WINDOW: Rect = Rect { x0: 21.4, y0: 41.4, x1: 37.0, y1: 47.6 };
