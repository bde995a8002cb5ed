//! The personas' data, looked for in what the reader and the tests put out: log lines, the
//! database, exports, and (through `kaoyomi-privacy-scan`, run by `cargo xtask test` over every
//! step's output) the whole suite's output. A finding names the persona, the kind of data and
//! where it was, never the value itself.

use kaoyomi_hal_sim::persona;

/// One piece of a persona's data to look for.
#[derive(Debug, Clone)]
pub struct Secret {
    /// Whose.
    pub persona: &'static str,
    /// What it is (`PIN`, `照合番号B`, …).
    pub kind: &'static str,
    /// The text looked for.
    pub value: String,
}

/// What can be looked for in output: the card holders' PINs and passwords, 照合番号B whole and its
/// parts (the birth date as printed in the Japanese era, the security code), the birth date as
/// the chip has it, the card's serial, 照合番号A and the certificate's label. With `short`, also
/// the four-digit values (PINs, security codes), which only text without other numbers (process
/// ids, kernel times) can be searched for without false alarms.
pub fn secrets(short: bool) -> Vec<Secret> {
    let mut all = Vec::new();
    for p in persona::PERSONAS {
        let mut add = |kind, value: &str| {
            // Personas that share a value (several cards with the same PIN) are looked for once.
            if (short || value.len() > 4) && !all.iter().any(|s: &Secret| s.value == value) {
                all.push(Secret { persona: p.id, kind, value: value.to_string() });
            }
        };
        if let Some(pin) = p.auth_pin {
            add("PIN", pin);
        }
        if let Some(password) = p.sign_password {
            add("署名用パスワード", password);
        }
        if let Some(b) = p.collation_b {
            add("照合番号B", b);
            add("照合番号B's birth date", &b[..6]);
            add("照合番号B's security code", &b[b.len() - 4..]);
        }
        if let Some(f) = &p.face {
            add("birth date", f.birth);
            add("card serial", f.card_serial);
            add("照合番号A", f.collation_a);
        }
        add("certificate label", &format!("{:08X}AUTH", p.cert_serial));
    }
    all
}

/// Whether `text` holds `token` not as part of a longer run of letters and digits: a random
/// device serial such as `KY-180803C7F6` holds the digits `8080` without holding a PIN.
pub fn holds_token(text: &str, token: &str) -> bool {
    text.match_indices(token).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + token.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Where `text` holds any of `secrets`: one line per finding, `line N: <kind> of persona <id>`.
pub fn findings(text: &str, secrets: &[Secret]) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for s in secrets {
            if holds_token(line, &s.value) {
                found.push(format!("line {}: {} of persona {}", n + 1, s.kind, s.persona));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_found_but_not_digits_inside_a_serial() {
        assert!(holds_token("PIN 8080 typed", "8080"));
        assert!(holds_token("8080", "8080"));
        assert!(!holds_token("reader KY-180803C7F6 ready", "8080"));
    }

    #[test]
    fn findings_name_the_kind_and_the_line_never_the_value() {
        let all = secrets(true);
        let pin = all.iter().find(|s| s.kind == "PIN").unwrap();
        let text = format!("reader ready\nscript: pin {}\n", pin.value);
        let found = findings(&text, &all);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("line 2: PIN of persona "), "{found:?}");
        assert!(!found[0].contains(&pin.value));
        // Without the short values, a PIN alone is not looked for.
        assert!(findings(&text, &secrets(false)).is_empty());
    }
}
