//! The invented card holders of the simulated board.
//!
//! Each persona is one card (or smartphone) with its own keys, PINs and starting counters.
//! PINs are test values printed in the README; no persona is a real person.

/// How a card's card-face application relates to the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chip {
    /// A genuine chip.
    Genuine,
    /// Another card's signed record copied onto a chip with its own key.
    ClonedFrom(&'static str),
    /// The record's birth date altered after the issuer signed it.
    Tampered,
}

/// The card face as the chip's 券面事項確認AP holds it (all invented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Face {
    /// Birth date, Gregorian `YYYYMMDD`.
    pub birth: &'static str,
    /// Sex code (ISO 5218).
    pub sex: &'static str,
    /// Card expiry, `YYYYMMDD`.
    pub expiry: &'static str,
    /// The security code image.
    pub security_code_png: &'static [u8],
    /// 15-digit card serial of the common record.
    pub card_serial: &'static str,
    /// 5-digit municipality code.
    pub municipality: &'static str,
    /// 照合番号A (an invented 12-digit number, only to guard EF 0005 the way the card does).
    pub collation_a: &'static str,
    /// Genuine, cloned or tampered.
    pub chip: Chip,
}

const fn face(
    birth: &'static str,
    expiry: &'static str,
    code: &'static [u8],
    serial: &'static str,
    chip: Chip,
) -> Option<Face> {
    Some(Face {
        birth,
        sex: "2",
        expiry,
        security_code_png: code,
        card_serial: serial,
        municipality: "13101",
        collation_a: "000000000000",
        chip,
    })
}

const CODE_2285: &[u8] = include_bytes!("../assets/code-2285.png");
const CODE_1234: &[u8] = include_bytes!("../assets/code-1234.png");
const CODE_9876: &[u8] = include_bytes!("../assets/code-9876.png");
const CODE_4321: &[u8] = include_bytes!("../assets/code-4321.png");

/// One simulated card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persona {
    /// Short name used by scripts and board files.
    pub id: &'static str,
    /// What the persona is for.
    pub about: &'static str,
    /// Token label in JPKI EF 0006.
    pub token_label: &'static str,
    /// 利用者証明用 PIN; None for a 顔認証マイナンバーカード (no PIN at all).
    pub auth_pin: Option<&'static str>,
    /// Tries left on the 利用者証明用 PIN when the card is first issued.
    pub initial_auth_tries: u8,
    /// 署名用パスワード; None when no 署名用 certificate was issued.
    pub sign_password: Option<&'static str>,
    /// 照合番号B (和暦 birth date YYMMDD + expiry year + security code), invented.
    pub collation_b: Option<&'static str>,
    /// Serial number of the 利用者証明用 certificate.
    pub cert_serial: u32,
    /// The card-face application (None on smartphones and foreign cards).
    pub face: Option<Face>,
    /// Not a My Number card at all (no JPKI application).
    pub foreign: bool,
}

/// Label of a physical card's JPKI token.
pub const CARD_LABEL: &str = "JPKIAPICCTOKEN2";

/// Every persona of the simulated board.
pub const PERSONAS: &[Persona] = &[
    Persona {
        id: "normal",
        about: "an ordinary card with all three PIN tries",
        token_label: CARD_LABEL,
        auth_pin: Some("4721"),
        initial_auth_tries: 3,
        sign_password: Some("KAOYOMI2026"),
        collation_b: Some("55021720352285"),
        cert_serial: 0x1001,
        face: face("19800217", "20350217", CODE_2285, "400000012719843", Chip::Genuine),
        foreign: false,
    },
    Persona {
        id: "last-try",
        about: "a card with one PIN try left",
        token_label: CARD_LABEL,
        auth_pin: Some("1357"),
        initial_auth_tries: 1,
        sign_password: Some("LASTTRY99"),
        collation_b: Some("63110320331234"),
        cert_serial: 0x1002,
        face: face("19881103", "20331103", CODE_1234, "400000012719844", Chip::Genuine),
        foreign: false,
    },
    Persona {
        id: "blocked",
        about: "a card whose PIN is blocked",
        token_label: CARD_LABEL,
        auth_pin: Some("8080"),
        initial_auth_tries: 0,
        sign_password: Some("BLOCKED42"),
        collation_b: Some("08070720349876"),
        cert_serial: 0x1003,
        face: face("19960707", "20340707", CODE_9876, "400000012719845", Chip::Genuine),
        foreign: false,
    },
    Persona {
        id: "pinless",
        about: "a 顔認証マイナンバーカード without any PIN",
        token_label: CARD_LABEL,
        auth_pin: None,
        initial_auth_tries: 0,
        sign_password: None,
        collation_b: Some("01050120344321"),
        cert_serial: 0x1004,
        face: face("20190501", "20340501", CODE_4321, "400000012719846", Chip::Genuine),
        foreign: false,
    },
    Persona {
        id: "smartphone",
        about: "an Android smartphone carrying the JPKI keys",
        token_label: "JPKIAPGPSETOKEN",
        auth_pin: Some("2468"),
        initial_auth_tries: 3,
        sign_password: Some("PHONE2468"),
        collation_b: None,
        cert_serial: 0x1005,
        face: None,
        foreign: false,
    },
    Persona {
        id: "cloned",
        about: "a cloned chip: the ordinary card's signed record on a chip with another key",
        token_label: CARD_LABEL,
        auth_pin: Some("4721"),
        initial_auth_tries: 3,
        sign_password: None,
        collation_b: Some("55021720352285"),
        cert_serial: 0x1006,
        face: face("19800217", "20350217", CODE_2285, "400000012719843", Chip::ClonedFrom("normal")),
        foreign: false,
    },
    Persona {
        id: "tampered",
        about: "a card whose card-face record was altered after signing",
        token_label: CARD_LABEL,
        auth_pin: Some("4721"),
        initial_auth_tries: 3,
        sign_password: None,
        collation_b: Some("55021720352285"),
        cert_serial: 0x1007,
        face: face("19800217", "20350217", CODE_2285, "400000012719847", Chip::Tampered),
        foreign: false,
    },
    Persona {
        id: "expired",
        about: "a card past its expiry date",
        token_label: CARD_LABEL,
        auth_pin: Some("3690"),
        initial_auth_tries: 3,
        sign_password: None,
        collation_b: Some("47030320241234"),
        cert_serial: 0x1008,
        face: face("19720303", "20240303", CODE_1234, "400000012719848", Chip::Genuine),
        foreign: false,
    },
    Persona {
        id: "foreign",
        about: "a contactless card that is not a My Number card (a transit card, say)",
        token_label: "",
        auth_pin: None,
        initial_auth_tries: 0,
        sign_password: None,
        collation_b: None,
        cert_serial: 0x1009,
        face: None,
        foreign: true,
    },
];

/// Looks a persona up by id.
pub fn find(id: &str) -> Option<&'static Persona> {
    PERSONAS.iter().find(|p| p.id == id)
}
