//! A text view of the screen states, until the Slint UI draws them: one line per screen, in
//! English with the Japanese the patient would read.

use kaoyomi_core::{CardProblem, FaceHint, FaceProblem, MethodOffer, Notice, Screen, ScreenState, StaffReason};
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
        Some(Notice::FaceUnavailable(problem)) => face_problem(problem),
        Some(Notice::FaceLocked) => {
            "This card's face check is locked (照合番号B); the municipal office can reset it. 顔認証はロックされています。 "
        }
    }
}

/// Why the face check could not decide, for the patient.
pub fn face_problem(problem: FaceProblem) -> &'static str {
    match problem {
        FaceProblem::Camera => "The face camera is not working; please use another way. 顔認証カメラが使えません。 ",
        FaceProblem::Models => "The face check is not available on this reader. 顔認証は利用できません。 ",
        FaceProblem::CardNumbers => {
            "The numbers printed on your card could not be read, so the face check cannot open the card photo. カードの券面を読み取れませんでした。 "
        }
        FaceProblem::CardRefused => {
            "The card did not open its photo; staff can help. カードの顔写真を読み出せませんでした。 "
        }
        FaceProblem::CardPhoto => {
            "The photo on the card could not be used for the face check. カードの顔写真を確認できませんでした。 "
        }
        FaceProblem::CardNotGenuine => {
            "This card could not be confirmed as genuine; please talk to staff. カードの真正性を確認できませんでした。職員にお声がけください。 "
        }
        FaceProblem::NotCaptured => "Your face could not be seen clearly enough. お顔をはっきり確認できませんでした。 ",
        FaceProblem::TimedOut => "The face check took too long. 顔認証に時間がかかりすぎました。 ",
    }
}

/// What the patient should change in front of the face camera.
pub fn face_hint(hint: FaceHint) -> &'static str {
    match hint {
        FaceHint::NoFace => "Please look at the camera. カメラの方を向いてください",
        FaceHint::MoveCloser => "Please come a little closer. もう少し近づいてください",
        FaceHint::MoveBack => "Please move back a little. 少し離れてください",
        FaceHint::CentreFace => "Please move to the middle of the frame. 枠の中央にお顔を入れてください",
        FaceHint::OnePerson => "Only the card holder, please. ご本人のみ映るようにしてください",
        FaceHint::FaceCamera => "Please face the camera straight on. 正面を向いてください",
        FaceHint::StraightenHead => "Please hold your head straight. 顔をまっすぐにしてください",
        FaceHint::HoldStill => "Please hold still. そのまま動かないでください",
        FaceHint::TooDark => "It is too dark: please face the light. 暗すぎます。明るい方を向いてください",
        FaceHint::TooBright => "Too much light on your face. 光が強すぎます",
        FaceHint::ShowEyes => {
            "Please show your eyes (glasses with tinted lenses, hair, hands). 目元が見えるようにしてください"
        }
        FaceHint::RemoveMask => {
            "If you are wearing a mask, please lower it for a moment. マスクをお使いの方は、少しの間外してください"
        }
        FaceHint::CardNotInView => {
            "Please place your card, photo side toward the device. カードを顔写真の面を機器側に向けて置いてください"
        }
        FaceHint::TurnCardRound => {
            "Your card is upside down: please turn it round. カードの向きを逆にして置き直してください"
        }
        FaceHint::ShowCardFront => {
            "Please place your My Number card, photo side toward the device. マイナンバーカードの顔写真の面を機器側に向けてください"
        }
        FaceHint::CardGlare => {
            "Light is reflecting off the card: please shade it. カードに光が反射しています。手で影を作ってください"
        }
        FaceHint::RepositionCard => {
            "Please place the card again, straight and flat. カードをまっすぐ置き直してください"
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
        Screen::FaceCheck { hint: None } => "Look at the camera. カメラを見てください".to_string(),
        Screen::FaceCheck { hint: Some(h) } => face_hint(h).to_string(),
        Screen::CallStaff { reason } => {
            let why = match reason {
                StaffReason::FaceFailed => "the face check failed",
                StaffReason::PinBlocked => "the PIN is locked",
                StaffReason::NoMethod => "no check is available for this card here",
            };
            format!("Please call staff ({why}). 職員をお呼びください")
        }
        Screen::Maintenance => {
            "The reader is being serviced: please ask at reception. ただいまメンテナンス中です。受付にお申し出ください".to_string()
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
