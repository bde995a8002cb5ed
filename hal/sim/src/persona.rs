//! The invented card holders of the simulated board.
//!
//! Each persona is one card (or smartphone) with its own keys, PINs and starting counters.
//! PINs are test values printed in the README; no persona is a real person.

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
    },
];

/// Looks a persona up by id.
pub fn find(id: &str) -> Option<&'static Persona> {
    PERSONAS.iter().find(|p| p.id == id)
}
