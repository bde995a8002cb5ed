//! The virtual My Number card: an APDU interpreter with the real card's applications, files,
//! access rules, retry counters and status words (`../shared/docs/card-protocol.md`).
//!
//! What it does, as the real card does per public sources:
//! - SELECT by AID (`00 A4 04 0C`, prefix allowed) and by file ID (`00 A4 02 0C`); SELECT MF
//!   (`00 A4 00 ..`) answers `6A86`; unknown files `6A82`.
//! - READ BINARY with 15-bit offsets; files carry filler after their object; reading past the end
//!   gives `6282` (partial) or `6B00` (offset outside).
//! - VERIFY on a key EF: empty VERIFY reads the counter (`63Cx`, also once verified, as OpenSC
//!   expects; `6984` when blocked); a wrong secret costs exactly one try (`63Cx`, `63C0` on the
//!   last), a blocked key answers `6984` and costs nothing; a right one restores the counter.
//!   A key that was never set (PIN-less card) answers `6A88` (this answer is Kaoyomi's assumption:
//!   no public source says what a 顔認証マイナンバーカード answers).
//! - COMPUTE DIGITAL SIGNATURE (`80 2A 00 80`) with PKCS#1 v1.5 type-1 padding over the given
//!   DigestInfo, only after VERIFY of the key's PIN (`6982` otherwise).
//! - Security state is cleared by selecting another application and by a reset.

use crate::persona::Persona;
use crate::pki::{self, PkiError};
use crate::store::CounterStore;
use kaoyomi_myna::apdu::{Command, Response};
use kaoyomi_myna::jpki;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use zeroize::Zeroizing;

/// 券面事項入力補助AP.
pub const AID_TEXT: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
/// 券面事項確認AP.
pub const AID_SURFACE: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];
/// 共通カードAP.
pub const AID_COMMON: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00];

/// The contact ATR of the card (card-protocol.md §2).
pub const ATR: [u8; 9] = [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];

/// Who may read a binary EF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Free,
    AfterVerify(u16),
}

/// A secret (PIN, password, 照合番号) with its counter.
struct KeyEf {
    secret: Option<Zeroizing<Vec<u8>>>,
    max_tries: u8,
    tries: u8,
}

enum Ef {
    Binary {
        data: Vec<u8>,
        read: Access,
    },
    Records {
        records: Vec<Vec<u8>>,
        read: Access,
    },
    Key(KeyEf),
    /// A private key; `pin` None means the application's own key, usable without a credential.
    PrivateKey {
        key: Arc<RsaPrivateKey>,
        pin: Option<u16>,
    },
}

struct Df {
    name: &'static str,
    aid: [u8; 10],
    efs: BTreeMap<u16, Ef>,
}

/// A virtual card for one persona.
pub struct VirtualCard {
    persona: &'static Persona,
    dfs: Vec<Df>,
    store: CounterStore,
    current_df: Option<usize>,
    current_ef: Option<u16>,
    verified: BTreeSet<(usize, u16)>,
    signatures: u32,
}

impl std::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VirtualCard({})", self.persona.id)
    }
}

fn binary(data: Vec<u8>, read: Access) -> Ef {
    Ef::Binary { data, read }
}

/// Appends filler the way real card files are longer than their object.
fn with_filler(mut data: Vec<u8>, filler: usize) -> Vec<u8> {
    data.extend(std::iter::repeat_n(0xFF, filler));
    data
}

fn key_ef(secret: Option<&str>, max_tries: u8) -> Ef {
    Ef::Key(KeyEf { secret: secret.map(|s| Zeroizing::new(s.as_bytes().to_vec())), max_tries, tries: max_tries })
}

fn counter_name(df: &Df, fid: u16) -> String {
    format!("{}/{fid:04X}", df.name)
}

const PORTRAIT: &[u8] = include_bytes!("../assets/portrait.jp2");
const NAME_PNG: &[u8] = include_bytes!("../assets/name.png");
const ADDRESS_PNG: &[u8] = include_bytes!("../assets/address.png");

/// The card-face record (FF20): the fields, their offset table, the issuer's signature.
fn card_face_record(persona: &Persona, face: &crate::persona::Face) -> Result<Vec<u8>, PkiError> {
    use crate::persona::Chip;
    use kaoyomi_myna::tlv::encode;
    use sha2::{Digest, Sha256};
    let chip_owner = match face.chip {
        Chip::ClonedFrom(other) => other,
        _ => persona.id,
    };
    let chip_key = pki::key(&format!("{chip_owner}-chip"))?.to_public_key();
    let mut fields = vec![
        encode(0xDF22, face.birth.as_bytes()),
        encode(0xDF23, face.sex.as_bytes()),
        encode(0xDF24, &pki::rsa_tlvs(&chip_key)),
        encode(0xDF25, NAME_PNG),
        encode(0xDF26, ADDRESS_PNG),
        encode(0xDF27, PORTRAIT),
    ];
    let mut digests = Vec::new();
    digests.extend_from_slice(&Sha256::digest(fields[..3].concat()));
    digests.extend_from_slice(&Sha256::digest(fields[3..5].concat()));
    digests.extend_from_slice(&Sha256::digest(&fields[5]));
    let mut info = vec![0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00];
    info.extend(encode(0x04, &digests));
    let signature = pki::key("sim-face-signer")?.sign(Pkcs1v15Sign::new_unprefixed(), &encode(0x30, &info))?;
    if face.chip == Chip::Tampered {
        // A forger changes the birth date; the signature no longer matches.
        let mut birth = face.birth.as_bytes().to_vec();
        birth[7] = if birth[7] == b'9' { b'0' } else { birth[7] + 1 };
        fields[0] = encode(0xDF22, &birth);
    }
    fields.push(encode(0xDF28, &signature));
    fields.push(encode(0xDF29, face.expiry.as_bytes()));
    fields.push(encode(0xDF2A, face.security_code_png));
    let body_len: usize = 21 + fields.iter().map(Vec::len).sum::<usize>();
    let header = encode(0xFF20, &vec![0; body_len]).len() - body_len;
    let mut offset = header + 21;
    let mut table = Vec::new();
    for f in &fields {
        table.extend_from_slice(&(offset as u16).to_be_bytes());
        offset += f.len();
    }
    let mut body = encode(0xDF21, &table);
    body.extend(fields.concat());
    Ok(encode(0xFF20, &body))
}

/// The 券面事項確認AP's files.
fn surface_efs(persona: &Persona, face: &crate::persona::Face) -> Result<BTreeMap<u16, Ef>, PkiError> {
    let mut efs = BTreeMap::new();
    efs.insert(0x0002, binary(with_filler(card_face_record(persona, face)?, 32), Access::AfterVerify(0x0012)));
    efs.insert(0x0004, binary(with_filler(pki::face_signer_cv_certificate()?, 16), Access::Free));
    // The 個人番号 image: only 照合番号A opens it. The reader never asks; the card still guards it.
    efs.insert(0x0005, binary(with_filler(b"not a real My Number image".to_vec(), 16), Access::AfterVerify(0x0013)));
    efs.insert(0x0012, key_ef(persona.collation_b, 10));
    efs.insert(0x0013, key_ef(Some(face.collation_a), 10));
    efs.insert(0x001A, Ef::PrivateKey { key: pki::key(&format!("{}-chip", persona.id))?, pin: None });
    Ok(efs)
}

impl VirtualCard {
    /// Issues the card of `persona`, with counters from `store` (or the persona's initial ones).
    pub fn issue(persona: &'static Persona, store: CounterStore) -> Result<VirtualCard, PkiError> {
        let ca = pki::ca_certificate()?;
        let auth_key = pki::key(&format!("{}-auth", persona.id))?;
        let auth_cert = pki::issue(
            &format!("CN={:08X}AUTH,OU=Kaoyomi simulated card,C=JP", persona.cert_serial),
            persona.cert_serial,
            &auth_key.to_public_key(),
        )?;
        let mut label = persona.token_label.as_bytes().to_vec();
        label.resize(32, b' ');
        label.resize(160, 0);

        let mut jpki_efs = BTreeMap::new();
        jpki_efs.insert(jpki::EF_TOKEN_INFO, binary(label, Access::Free));
        jpki_efs.insert(jpki::EF_AUTH_CERT, binary(with_filler(auth_cert, 64), Access::Free));
        jpki_efs.insert(jpki::EF_AUTH_CA, binary(with_filler(ca.clone(), 64), Access::Free));
        jpki_efs.insert(jpki::EF_SIGN_CA, binary(with_filler(ca, 64), Access::Free));
        jpki_efs.insert(jpki::EF_AUTH_KEY, Ef::PrivateKey { key: auth_key, pin: Some(jpki::EF_AUTH_PIN) });
        let mut auth_pin = key_ef(persona.auth_pin, jpki::AUTH_PIN_TRIES);
        if let Ef::Key(k) = &mut auth_pin {
            k.tries = persona.initial_auth_tries.min(k.max_tries);
        }
        jpki_efs.insert(jpki::EF_AUTH_PIN, auth_pin);
        jpki_efs.insert(jpki::EF_SIGN_PIN, key_ef(persona.sign_password, 5));
        let has_sign = persona.sign_password.is_some();
        if has_sign {
            let sign_key = pki::key(&format!("{}-sign", persona.id))?;
            let sign_cert = pki::issue(
                &format!("CN=Kaoyomi Simulated Signer {:08X},O=Kaoyomi,C=JP", persona.cert_serial),
                persona.cert_serial + 0x10000,
                &sign_key.to_public_key(),
            )?;
            jpki_efs
                .insert(jpki::EF_SIGN_CERT, binary(with_filler(sign_cert, 64), Access::AfterVerify(jpki::EF_SIGN_PIN)));
            jpki_efs.insert(jpki::EF_SIGN_KEY, Ef::PrivateKey { key: sign_key, pin: Some(jpki::EF_SIGN_PIN) });
        }
        jpki_efs.insert(
            jpki::EF_CERT_AVAILABILITY,
            binary(vec![if has_sign { 0x8F } else { 0x00 }, 0x8F, 0x00], Access::Free),
        );

        let mut dfs = vec![Df { name: "jpki", aid: jpki::AID, efs: jpki_efs }];
        if let Some(face) = &persona.face {
            let mut text = BTreeMap::new();
            text.insert(0x0011, key_ef(persona.auth_pin, 3));
            text.insert(0x0014, key_ef(Some(face.collation_a), 10));
            text.insert(0x0015, key_ef(persona.collation_b, 10));
            dfs.push(Df { name: "text", aid: AID_TEXT, efs: text });
            dfs.push(Df { name: "surface", aid: AID_SURFACE, efs: surface_efs(persona, face)? });
            let mut common = BTreeMap::new();
            let digits = format!("{}{}{}", face.card_serial, face.municipality, face.expiry);
            common.insert(
                0x0001,
                Ef::Records { records: vec![kaoyomi_myna::tlv::encode(0x01, digits.as_bytes())], read: Access::Free },
            );
            dfs.push(Df { name: "common", aid: AID_COMMON, efs: common });
        }
        if persona.foreign {
            // Not a My Number card: none of its applications.
            dfs.clear();
        }
        let mut card = VirtualCard {
            persona,
            dfs,
            store,
            current_df: None,
            current_ef: None,
            verified: BTreeSet::new(),
            signatures: 0,
        };
        card.load_counters();
        Ok(card)
    }

    /// The persona.
    pub fn persona(&self) -> &'static Persona {
        self.persona
    }

    /// Signatures made since issue (tests check that no signature happens without a PIN).
    pub fn signatures(&self) -> u32 {
        self.signatures
    }

    /// Tries left on a key (`df` is "jpki", "text" or "surface"), for tests and the engineer's view.
    pub fn tries(&self, df: &str, fid: u16) -> Option<u8> {
        let df = self.dfs.iter().find(|d| d.name == df)?;
        match df.efs.get(&fid)? {
            Ef::Key(k) => Some(k.tries),
            _ => None,
        }
    }

    fn load_counters(&mut self) {
        let stored = self.store.load(self.persona.id);
        for df in &mut self.dfs {
            let names: Vec<(u16, String)> = df.efs.keys().map(|&fid| (fid, counter_name(df, fid))).collect();
            for (fid, name) in names {
                if let (Some(Ef::Key(k)), Some(&t)) = (df.efs.get_mut(&fid), stored.get(&name)) {
                    k.tries = t.min(k.max_tries);
                }
            }
        }
    }

    fn save_counters(&self) {
        let mut counters = BTreeMap::new();
        for df in &self.dfs {
            for (&fid, ef) in &df.efs {
                if let Ef::Key(k) = ef {
                    counters.insert(counter_name(df, fid), k.tries);
                }
            }
        }
        if let Err(e) = self.store.save(self.persona.id, &counters) {
            log::error!("sim card {}: cannot store retry counters: {e}", self.persona.id);
        }
    }

    /// Cold reset: the security state goes, the counters stay.
    pub fn reset(&mut self) {
        self.current_df = None;
        self.current_ef = None;
        self.verified.clear();
    }

    /// Processes one command APDU and returns the response APDU.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Some(command) = Command::parse(apdu) else { return Response::status(0x6700).to_bytes() };
        self.dispatch(&command).to_bytes()
    }

    fn dispatch(&mut self, c: &Command) -> Response {
        match (c.cla, c.ins) {
            (0x00, 0xA4) => self.select(c),
            (0x00, 0xB0) => self.read_binary(c),
            (0x00, 0xB2) => self.read_record(c),
            (0x00, 0x20) => self.verify(c),
            (0x80, 0x2A) => self.sign(c),
            (0x00 | 0x80, _) => Response::status(0x6D00),
            (0x08 | 0x0C, _) => Response::status(0x6882),
            _ => Response::status(0x6E00),
        }
    }

    fn select(&mut self, c: &Command) -> Response {
        match (c.p1, c.p2) {
            (0x04, 0x0C) => {
                let found = self.dfs.iter().position(|df| !c.data.is_empty() && df.aid.starts_with(&c.data));
                match found {
                    Some(i) => {
                        if self.current_df != Some(i) {
                            self.verified.clear();
                        }
                        self.current_df = Some(i);
                        self.current_ef = None;
                        Response::status(0x9000)
                    }
                    None => Response::status(0x6A82),
                }
            }
            (0x02, 0x0C) => {
                let (Some(df), [hi, lo]) = (self.current_df, c.data.as_slice()) else {
                    return Response::status(if c.data.len() == 2 { 0x6A82 } else { 0x6700 });
                };
                let fid = u16::from_be_bytes([*hi, *lo]);
                if self.dfs[df].efs.contains_key(&fid) {
                    self.current_ef = Some(fid);
                    Response::status(0x9000)
                } else {
                    Response::status(0x6A82)
                }
            }
            (0x00, _) => Response::status(0x6A86),
            _ => Response::status(0x6A86),
        }
    }

    fn current(&mut self) -> Result<(usize, u16), Response> {
        match (self.current_df, self.current_ef) {
            (Some(df), Some(ef)) => Ok((df, ef)),
            _ => Err(Response::status(0x6986)),
        }
    }

    fn read_binary(&mut self, c: &Command) -> Response {
        if c.p1 & 0x80 != 0 {
            // Short-EF-ID addressing: not needed by Kaoyomi; refuse rather than guess its rules.
            return Response::status(0x6A86);
        }
        let (df, fid) = match self.current() {
            Ok(x) => x,
            Err(r) => return r,
        };
        let offset = u16::from_be_bytes([c.p1, c.p2]) as usize;
        let le = c.le.unwrap_or(256) as usize;
        let verified = &self.verified;
        match &self.dfs[df].efs[&fid] {
            Ef::Binary { data, read } => {
                if let Access::AfterVerify(key) = read
                    && !verified.contains(&(df, *key))
                {
                    return Response::status(0x6982);
                }
                if offset >= data.len() {
                    return Response::status(0x6B00);
                }
                let end = (offset + le).min(data.len());
                let sw = if end - offset < le { 0x6282 } else { 0x9000 };
                Response { data: data[offset..end].to_vec(), sw: kaoyomi_myna::StatusWord(sw) }
            }
            _ => Response::status(0x6981),
        }
    }

    fn read_record(&mut self, c: &Command) -> Response {
        let Some(df) = self.current_df else { return Response::status(0x6986) };
        let fid = match c.p2 {
            0x04 => match self.current_ef {
                Some(fid) => fid,
                None => return Response::status(0x6986),
            },
            p2 if p2 & 0x07 == 0x04 => (p2 >> 3) as u16,
            _ => return Response::status(0x6A86),
        };
        let Some(ef) = self.dfs[df].efs.get(&fid) else { return Response::status(0x6A82) };
        let Ef::Records { records, read } = ef else { return Response::status(0x6981) };
        if let Access::AfterVerify(key) = read
            && !self.verified.contains(&(df, *key))
        {
            return Response::status(0x6982);
        }
        match records.get((c.p1 as usize).wrapping_sub(1)) {
            Some(record) => {
                let le = c.le.unwrap_or(256) as usize;
                let sw = if record.len() > le { 0x6282 } else { 0x9000 };
                Response { data: record[..record.len().min(le)].to_vec(), sw: kaoyomi_myna::StatusWord(sw) }
            }
            None => Response::status(0x6A83),
        }
    }

    fn verify(&mut self, c: &Command) -> Response {
        if c.p1 != 0x00 || c.p2 != 0x80 {
            return Response::status(0x6A86);
        }
        let (df, fid) = match self.current() {
            Ok(x) => x,
            Err(r) => return r,
        };
        let Some(Ef::Key(key)) = self.dfs[df].efs.get_mut(&fid) else { return Response::status(0x6981) };
        let Some(secret) = &key.secret else { return Response::status(0x6A88) };
        if key.tries == 0 {
            return Response::status(0x6984);
        }
        if c.data.is_empty() {
            // The counter, verified or not. One source (myna-card) says a card may answer 9000 once
            // verified; OpenSC's JPKI driver, written against real cards, accepts only 63Cx here.
            return Response::status(0x63C0 | key.tries as u16);
        }
        // Compare without an early exit on the first differing byte.
        let same = c.data.len() == secret.len()
            && c.data.iter().zip(secret.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if same {
            let changed = key.tries != key.max_tries;
            key.tries = key.max_tries;
            self.verified.insert((df, fid));
            if changed {
                self.save_counters();
            }
            Response::status(0x9000)
        } else {
            key.tries -= 1;
            let left = key.tries;
            self.verified.remove(&(df, fid));
            self.save_counters();
            Response::status(0x63C0 | left as u16)
        }
    }

    fn sign(&mut self, c: &Command) -> Response {
        if c.p1 != 0x00 {
            return Response::status(0x6A86);
        }
        let Some(df) = self.current_df else { return Response::status(0x6986) };
        let key = match c.p2 {
            // The application's own key, no credential: the chip proves it is genuine.
            0x00 => match self.dfs[df].efs.values().find(|ef| matches!(ef, Ef::PrivateKey { pin: None, .. })) {
                Some(Ef::PrivateKey { key, .. }) => key.clone(),
                _ => return Response::status(0x6A88),
            },
            0x80 => {
                let Some(fid) = self.current_ef else { return Response::status(0x6986) };
                let Ef::PrivateKey { key, pin } = &self.dfs[df].efs[&fid] else { return Response::status(0x6981) };
                if let Some(pin) = pin
                    && !self.verified.contains(&(df, *pin))
                {
                    return Response::status(0x6982);
                }
                key.clone()
            }
            _ => return Response::status(0x6A86),
        };
        if c.data.is_empty() || c.data.len() > 256 - 11 {
            return Response::status(0x6700);
        }
        match key.sign(Pkcs1v15Sign::new_unprefixed(), &c.data) {
            Ok(signature) => {
                self.signatures += 1;
                Response { data: signature, sw: kaoyomi_myna::StatusWord::OK }
            }
            Err(_) => Response::status(0x6F00),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persona;

    fn card(id: &str, dir: &std::path::Path) -> VirtualCard {
        VirtualCard::issue(persona::find(id).unwrap(), CounterStore::new(dir)).unwrap()
    }

    fn run(card: &mut VirtualCard, hex_apdu: &[u8]) -> (Vec<u8>, u16) {
        let r = card.process(hex_apdu);
        let (data, sw) = r.split_at(r.len() - 2);
        (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
    }

    const SELECT_JPKI: [u8; 15] = [0, 0xA4, 4, 0x0C, 10, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];

    #[test]
    fn retry_counter_rules_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = card("normal", dir.path());
        assert_eq!(run(&mut c, &[0, 0xA4, 0, 0, 2, 0x3F, 0]).1, 0x6A86, "SELECT MF refused");
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80]).1, 0x6986, "no EF selected");
        assert_eq!(run(&mut c, &SELECT_JPKI).1, 0x9000);
        assert_eq!(run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x99]).1, 0x6A82);
        assert_eq!(run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x18]).1, 0x9000);
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80]).1, 0x63C3, "empty VERIFY reads the counter");
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80]).1, 0x63C3, "and uses no try");
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80, 4, b'0', b'0', b'0', b'0']).1, 0x63C2);
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80, 4, b'1', b'1', b'1', b'1']).1, 0x63C1);
        // The counter survives the card leaving: a new card object for the same persona sees it.
        let mut again = card("normal", dir.path());
        assert_eq!(again.tries("jpki", 0x0018), Some(1));
        run(&mut again, &SELECT_JPKI);
        run(&mut again, &[0, 0xA4, 2, 0x0C, 2, 0, 0x18]);
        assert_eq!(run(&mut again, &[0, 0x20, 0, 0x80, 4, b'4', b'7', b'2', b'1']).1, 0x9000, "right PIN");
        assert_eq!(again.tries("jpki", 0x0018), Some(3), "counter restored");
        assert_eq!(run(&mut again, &[0, 0x20, 0, 0x80]).1, 0x63C3, "the counter, even once verified");
    }

    #[test]
    fn blocked_and_pinless_cards() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = card("blocked", dir.path());
        run(&mut c, &SELECT_JPKI);
        run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x18]);
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80]).1, 0x6984);
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80, 4, b'8', b'0', b'8', b'0']).1, 0x6984, "even the right PIN");
        let mut p = card("pinless", dir.path());
        run(&mut p, &SELECT_JPKI);
        run(&mut p, &[0, 0xA4, 2, 0x0C, 2, 0, 0x18]);
        assert_eq!(run(&mut p, &[0, 0x20, 0, 0x80]).1, 0x6A88);
        assert_eq!(run(&mut p, &[0, 0xA4, 2, 0x0C, 2, 0, 0x01]).1, 0x6A82, "no 署名用 certificate");
    }

    #[test]
    fn signing_needs_the_pin_and_reading_handles_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = card("normal", dir.path());
        run(&mut c, &SELECT_JPKI);
        run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x17]);
        let mut sign = vec![0x80, 0x2A, 0, 0x80, 3, 1, 2, 3, 0];
        assert_eq!(run(&mut c, &sign).1, 0x6982);
        run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x01]);
        assert_eq!(run(&mut c, &[0, 0xB0, 0, 0, 0]).1, 0x6982, "署名用 certificate needs the password");
        run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x18]);
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80, 4, b'4', b'7', b'2', b'1']).1, 0x9000);
        run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x17]);
        let (sig, sw) = run(&mut c, &sign);
        assert_eq!((sig.len(), sw), (256, 0x9000));
        sign[4] = 0;
        assert_eq!(run(&mut c, &sign[..5]).1, 0x6700, "Lc 0 is malformed");
        run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x0A]);
        let (head, sw) = run(&mut c, &[0, 0xB0, 0, 0, 4]);
        assert_eq!((head[0], sw), (0x30, 0x9000));
        assert_eq!(run(&mut c, &[0, 0xB0, 0x7F, 0, 1]).1, 0x6B00, "offset outside the file");
        assert_eq!(run(&mut c, &[0x0C, 0xB0, 0, 0, 1]).1, 0x6882, "secure messaging refused");
        assert_eq!(run(&mut c, &[0, 0xCA, 0, 0, 1]).1, 0x6D00);
        // Selecting another application drops the security state.
        run(&mut c, &[0, 0xA4, 4, 0x0C, 10, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02]);
        run(&mut c, &SELECT_JPKI);
        run(&mut c, &[0, 0xA4, 2, 0x0C, 2, 0, 0x17]);
        assert_eq!(run(&mut c, &[0x80, 0x2A, 0, 0x80, 3, 1, 2, 3, 0]).1, 0x6982);
        assert_eq!(c.signatures(), 1);
    }
}
