//! `kaoyomi-reader card-info`: what the reader can see of a card without any credential, for
//! engineers. Token kind, the 利用者証明用 certificate's subject, serial and validity, the retry
//! counters (read without using a try) and the card's expiry: nothing else personal.

use kaoyomi_hal::card::CardReader;
use kaoyomi_myna::card::{Card, Error, PinStatus};
use kaoyomi_myna::jpki::{self, JpkiAp};
use kaoyomi_myna::surface::SurfaceAp;
use std::fmt;
use x509_cert::Certificate;
use x509_cert::der::Decode;

/// What `card-info` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// Token kind from the JPKI label.
    pub token: String,
    /// Certificate subject, serial (hex), validity.
    pub certificate: Option<(String, String, String)>,
    /// 利用者証明用 PIN.
    pub auth_pin: String,
    /// 署名用パスワード.
    pub sign_password: String,
    /// 照合番号B.
    pub collation_b: String,
    /// Card expiry from the common record.
    pub expiry: String,
}

fn counter(status: Result<PinStatus, Error>) -> String {
    match status {
        Ok(PinStatus::Remaining(n)) => format!("{n} tries left"),
        Ok(PinStatus::Blocked) => "blocked".into(),
        Ok(PinStatus::NotSet) => "not set on this card".into(),
        Ok(PinStatus::Verified) => "verified".into(),
        Ok(PinStatus::NoLimit) => "no retry limit".into(),
        Err(Error::Refused { sw, .. }) if sw.0 == 0x6A82 => "not on this card".into(),
        Err(e) => format!("unreadable ({e})"),
    }
}

/// Reads the card in `reader`.
pub fn read<R: CardReader>(reader: &mut R) -> Result<CardInfo, Error> {
    reader.connect().map_err(|e| Error::Transmit(kaoyomi_hal::Error::kind(&e)))?;
    let mut card = Card::new(&mut *reader);
    let (token, certificate, auth_pin, sign_password) = match JpkiAp::select(&mut card) {
        Ok(mut ap) => {
            let token = format!("{:?}", ap.token()?);
            let certificate = ap.auth_certificate().ok().and_then(|der| Certificate::from_der(&der).ok()).map(|c| {
                let tbs = c.tbs_certificate;
                let serial: String = tbs.serial_number.as_bytes().iter().map(|b| format!("{b:02X}")).collect();
                (tbs.subject.to_string(), serial, format!("{} .. {}", tbs.validity.not_before, tbs.validity.not_after))
            });
            let auth_pin = counter(ap.auth_pin_status());
            let sign = counter(card.select_ef(jpki::EF_SIGN_PIN).and_then(|()| card.pin_status()));
            (token, certificate, auth_pin, sign)
        }
        Err(Error::Refused { sw, .. }) if sw.0 == 0x6A82 => {
            ("not a My Number card (no JPKI application)".into(), None, "-".into(), "-".into())
        }
        Err(e) => return Err(e),
    };
    let collation_b = counter(SurfaceAp::select(&mut card).and_then(|mut ap| ap.collation_b_status()));
    let expiry = match kaoyomi_myna::common::read_expiry(&mut card) {
        Ok(d) => d.to_string(),
        Err(Error::Refused { sw, .. }) if sw.0 == 0x6A82 => "not on this card".into(),
        Err(e) => format!("unreadable ({e})"),
    };
    let _ = card.into_inner();
    reader.disconnect();
    Ok(CardInfo { token, certificate, auth_pin, sign_password, collation_b, expiry })
}

impl fmt::Display for CardInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "token:                     {}", self.token)?;
        match &self.certificate {
            Some((subject, serial, validity)) => {
                writeln!(f, "利用者証明用 certificate:  {subject}")?;
                writeln!(f, "  serial:                  {serial}")?;
                writeln!(f, "  valid:                   {validity}")?;
            }
            None => writeln!(f, "利用者証明用 certificate:  none")?,
        }
        writeln!(f, "利用者証明用 PIN:          {}", self.auth_pin)?;
        writeln!(f, "署名用 password:           {}", self.sign_password)?;
        writeln!(f, "照合番号B:                 {}", self.collation_b)?;
        write!(f, "card expiry:               {}", self.expiry)
    }
}
