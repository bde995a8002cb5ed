//! A text view of the screen states, until the Slint UI draws them: one line per screen, in
//! English with the Japanese the patient would read.

use kaoyomi_core::{CardProblem, MethodOffer, Notice, Screen, ScreenState, StaffReason};
use kaoyomi_protocol::{AuthMethod, ConsentTopic, Outcome};

fn offer(name: &str, o: MethodOffer) -> Option<String> {
    match o {
        MethodOffer::Available => Some(format!("[{name}]")),
        MethodOffer::Unavailable => Some(format!("({name}: unavailable)")),
        MethodOffer::Hidden => None,
    }
}

fn notice(n: Option<Notice>) -> &'static str {
    match n {
        None => "",
        Some(Notice::PinWrong) => "The PIN was wrong. 暗証番号が違います。 ",
        Some(Notice::PinNowBlocked) => {
            "The PIN is now locked; the municipal office can reset it. 暗証番号がロックされました。 "
        }
        Some(Notice::PinBlocked) => "This card's PIN is locked. 暗証番号はロックされています。 ",
        Some(Notice::FaceFailed) => "The face did not match. 顔認証できませんでした。 ",
        Some(Notice::FaceUnavailable) => "The face check is not available. 顔認証は利用できません。 ",
        Some(Notice::FaceLocked) => {
            "This card's face check is locked (照合番号B); the municipal office can reset it. 顔認証はロックされています。 "
        }
    }
}

/// One line for a screen state.
pub fn render(state: &ScreenState) -> String {
    let body = match state.screen {
        Screen::PlaceCard => "Place your card, photo side toward the device. カードを置いてください（顔写真を機器側に）".to_string(),
        Screen::WaitForReception => "Please wait: reception is getting ready. 受付の準備中です。お待ちください".to_string(),
        Screen::ReadingCard => "Reading the card; please do not move it. カードを読み取り中です".to_string(),
        Screen::ChooseMethod { face, pin, visual, notice: n } => {
            let choices: Vec<String> = [offer("face 顔認証", face), offer("PIN 暗証番号", pin), offer("visual 目視確認", visual)]
                .into_iter()
                .flatten()
                .collect();
            format!("{}Choose how to confirm who you are: {} 本人確認の方法を選んでください", notice(n), choices.join(" "))
        }
        Screen::ConfirmLastTry => {
            "One PIN try left: a wrong PIN locks the card. Continue? 残り1回です。間違えるとロックされます。続けますか？".to_string()
        }
        Screen::PinEntry { entered, tries_left, notice: n } => {
            let dots: String = (0..4).map(|i| if i < entered { '●' } else { '○' }).collect();
            format!("{}Enter your 4-digit PIN {dots} ({tries_left} {} left) 暗証番号を入力してください（残り{tries_left}回）", notice(n), if tries_left == 1 { "try" } else { "tries" })
        }
        Screen::VerifyingPin => "Checking the PIN; please do not move the card. 確認中です".to_string(),
        Screen::FaceCheck => "Look at the camera. カメラを見てください".to_string(),
        Screen::CallStaff { reason } => {
            let why = match reason {
                StaffReason::FaceFailed => "the face check failed",
                StaffReason::PinBlocked => "the PIN is locked",
                StaffReason::NoMethod => "no check is available for this card here",
            };
            format!("Please call staff ({why}). 職員をお呼びください")
        }
        Screen::VisualCheck => "Staff are checking your face against the card. 職員が確認しています".to_string(),
        Screen::Registration => "Register this card for health insurance use? 健康保険証として利用登録しますか？".to_string(),
        Screen::Consent { topic, index, total } => {
            let what = match topic {
                ConsentTopic::Medical => "share medical and drug information 診療・薬剤情報の提供",
                ConsentTopic::Checkup => "share health checkup results 特定健診情報の提供",
                ConsentTopic::Limit => "share limit-amount information 限度額情報の提供",
            };
            format!("({}/{total}) Do you agree to {what}? 同意しますか？", index + 1)
        }
        Screen::UnknownCard => "This is not a My Number card. Please place your My Number card. マイナンバーカードを置いてください".to_string(),
        Screen::CardExpired => "This card has expired. Please talk to staff. カードの有効期限が切れています。職員にお声がけください".to_string(),
        Screen::CardError { problem } => {
            let why = match problem {
                CardProblem::NotMyNumberCard => "this is not a My Number card",
                CardProblem::Expired => "the card has expired",
                CardProblem::BadAnswer => "the card answered something unexpected",
                CardProblem::NoAnswer => "the card stopped answering",
            };
            format!("The card could not be read ({why}). Please remove it and place it again. カードを置き直してください")
        }
        Screen::Finished { outcome, method } => {
            let how = match method {
                Some(AuthMethod::Face) => " by face",
                Some(AuthMethod::Pin) => " by PIN",
                Some(AuthMethod::Visual) => " by staff",
                None => "",
            };
            let what = match outcome {
                Outcome::Verified => format!("Confirmed{how}. 確認できました。"),
                Outcome::NotVerified => "Not confirmed; please talk to staff. 確認できませんでした。".to_string(),
                Outcome::Cancelled(_) => "Stopped. 中止しました。".to_string(),
            };
            format!("{what} Please remove your card. カードをお取りください")
        }
    };
    match state.timeout_warning_s {
        Some(s) => format!("{body} — still there? This ends in {s} s. 操作がないため{s}秒後に終了します"),
        None => body,
    }
}
