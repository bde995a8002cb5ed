//! The staff display's and the maintenance pages' words: a catalogue of keys in Japanese and
//! English (`ui/wording/staff.toml`, bundled), which a facility may override without rebuilding
//! the firmware (`wording.toml` in the state directory: only keys that exist, each at most
//! [`MAX_TEXT`] characters; anything else is ignored and named in the log).

use std::collections::BTreeMap;
use std::path::Path;

/// The bundled catalogue.
pub const BUNDLED: &str = include_str!("../wording/staff.toml");

/// The longest text a facility's file may give a key.
pub const MAX_TEXT: usize = 300;

/// The languages of the catalogue.
pub const LANGS: [&str; 2] = ["ja", "en"];

/// The catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wording {
    texts: BTreeMap<(String, String), String>,
}

fn parse(text: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, toml::de::Error> {
    toml::from_str(text)
}

impl Wording {
    /// The bundled catalogue.
    pub fn bundled() -> Wording {
        let mut w = Wording::default();
        match parse(BUNDLED) {
            Ok(tables) => {
                for (lang, keys) in tables {
                    for (key, text) in keys {
                        w.texts.insert((lang.clone(), key), text);
                    }
                }
            }
            // The catalogue's test parses it: this only happens to a broken build.
            Err(e) => log::error!("the bundled staff wording does not parse: {e}"),
        }
        w
    }

    /// Takes the facility's changes from `text` (a file shaped like the bundled one); returns
    /// what was ignored, in an engineer's words.
    pub fn merge(&mut self, text: &str) -> Vec<String> {
        let tables = match parse(text) {
            Ok(t) => t,
            Err(e) => return vec![format!("the facility's wording file does not parse: {e}")],
        };
        let mut ignored = Vec::new();
        for (lang, keys) in tables {
            for (key, value) in keys {
                let Some(text) = self.texts.get_mut(&(lang.clone(), key.clone())) else {
                    ignored.push(format!("[{lang}] {key}: no such key"));
                    continue;
                };
                if value.chars().count() > MAX_TEXT || value.trim().is_empty() {
                    ignored.push(format!("[{lang}] {key}: empty or longer than {MAX_TEXT} characters"));
                } else if value.chars().any(|c| c.is_control() && c != '\n') {
                    ignored.push(format!("[{lang}] {key}: control characters"));
                } else {
                    *text = value;
                }
            }
        }
        ignored
    }

    /// The bundled catalogue with the facility's file `dir/wording.toml`, if there is one.
    pub fn for_facility(dir: &Path) -> Wording {
        let mut w = Wording::bundled();
        let path = dir.join("wording.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for problem in w.merge(&text) {
                    log::warn!("{}: {problem}; the standard text is used", path.display());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("{}: {e}; the standard wording is used", path.display()),
        }
        w
    }

    /// The text of `key` in `lang` with `value` in its `{}` (Japanese when the language lacks
    /// it; the key itself when nothing has it, so that a missing text shows, not a blank).
    pub fn text(&self, key: &str, value: &str, lang: &str) -> String {
        if key.is_empty() {
            return String::new();
        }
        let found = self
            .texts
            .get(&(lang.to_string(), key.to_string()))
            .or_else(|| self.texts.get(&("ja".to_string(), key.to_string())));
        match found {
            Some(t) => t.replacen("{}", value, 1),
            None => key.to_string(),
        }
    }

    /// Every key of `lang`.
    pub fn keys(&self, lang: &str) -> Vec<&str> {
        self.texts.keys().filter(|(l, _)| l == lang).map(|(_, k)| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_both_languages_have_every_key() {
        let w = Wording::bundled();
        let ja = w.keys("ja");
        assert!(ja.len() > 80, "{}", ja.len());
        assert_eq!(ja, w.keys("en"));
        assert_eq!(
            w.text("login-locked", "30", "en"),
            "Too many wrong passwords: logins are locked. Try again in 30 s."
        );
        assert_eq!(w.text("no-such-key", "", "ja"), "no-such-key");
    }

    #[test]
    fn a_facility_changes_only_keys_that_exist() {
        let mut w = Wording::bundled();
        let ignored = w.merge(
            "[ja]\n\"staff.maintenance\" = \"保守\"\n\"staff.unknown\" = \"x\"\n\"staff.title\" = \"\"\n[en]\n\"maint.login\" = \"Sign in\"\n",
        );
        assert_eq!(w.text("staff.maintenance", "", "ja"), "保守");
        assert_eq!(w.text("maint.login", "", "en"), "Sign in");
        assert_eq!(w.text("staff.title", "", "ja"), "顔認証付きカードリーダー 職員用");
        assert_eq!(ignored.len(), 2, "{ignored:?}");
        assert_eq!(w.merge("not toml [").len(), 1);
    }
}
