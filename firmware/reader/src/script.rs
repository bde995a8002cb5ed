//! Patient and staff input for the sim board: scripted (`--script FILE`) or typed on stdin.
//!
//! One action per line, `#` starts a comment:
//!
//! | line | what happens |
//! |---|---|
//! | `await SCREEN [SECONDS]` | wait until SCREEN (a name from `kaoyomi_core::Screen::name`) was shown since the last action |
//! | `insert PERSONA` / `remove` | place the persona's virtual card / take it away |
//! | `choose face\|pin\|visual` | tap a method |
//! | `pin DIGITS` | type the digits on the PIN pad, one key at a time |
//! | `digit D`, `delete`, `back`, `confirm-last-try` | single taps |
//! | `consent yes\|no`, `register yes\|no` | answer the question on screen |
//! | `still-here` | tap "I am still here" on the time-out warning |
//! | `staff visual on\|off`, `staff confirm yes\|no`, `staff cancel` | staff actions |
//! | `fault remove-before N\|remove-after N\|truncate N\|garble N` | inject a card fault at the N-th next APDU |
//! | `face holder\|stranger\|nobody\|dark\|unplugged` | who stands before the simulated face camera |
//! | `face photo-of-holder\|screen-of-holder\|replay-of-holder\|card-front\|mask-of-holder` | a presentation attack before it |
//! | `slot front\|empty\|upside-down\|back\|licence\|juki\|glare\|unplugged` | what the simulated card camera sees |
//! | `sleep MS`, `quit` | pause; stop the reader |

use crate::Input;
use anyhow::{Context, Result, anyhow, bail};
use kaoyomi_core::Event;
use kaoyomi_hal_sim::card_camera::{SimCardCameraControl, SlotView};
use kaoyomi_hal_sim::{CounterStore, Fault, Scene, SimCameraControl, SimCardControl, VirtualCard, persona};
use kaoyomi_protocol::AuthMethod;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// One parsed line.
#[derive(Debug)]
pub enum Action {
    /// Wait for a screen.
    Await(String, Duration),
    /// Place a card.
    Insert(String),
    /// Remove the card.
    Remove,
    /// A core event.
    Event(Event),
    /// Type digits.
    Pin(Zeroizing<Vec<u8>>),
    /// Inject a fault.
    Fault(Fault),
    /// Set the simulated face camera's scene.
    Scene(Scene),
    /// Set what the simulated card camera sees.
    Slot(SlotView),
    /// Pause.
    Sleep(Duration),
    /// Stop.
    Quit,
}

fn yes_no(word: Option<&str>) -> Result<bool> {
    match word {
        Some("yes" | "on") => Ok(true),
        Some("no" | "off") => Ok(false),
        other => bail!("expected yes/no (or on/off), got {other:?}"),
    }
}

/// Parses one line; None for blank lines and comments.
pub fn parse_line(line: &str) -> Result<Option<Action>> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or_default();
    let arg = words.next();
    let number = |w: Option<&str>| -> Result<u64> {
        w.ok_or_else(|| anyhow!("{verb} needs a number"))?.parse().map_err(|_| anyhow!("{verb}: not a number"))
    };
    let action = match verb {
        "await" => {
            let screen = arg.ok_or_else(|| anyhow!("await needs a screen name"))?.to_string();
            let secs = words.next().map(|w| w.parse::<u64>()).transpose().map_err(|_| anyhow!("await: bad seconds"))?;
            Action::Await(screen, Duration::from_secs(secs.unwrap_or(30)))
        }
        "insert" => Action::Insert(arg.ok_or_else(|| anyhow!("insert needs a persona"))?.to_string()),
        "remove" => Action::Remove,
        "choose" => Action::Event(Event::MethodChosen(match arg {
            Some("face") => AuthMethod::Face,
            Some("pin") => AuthMethod::Pin,
            Some("visual") => AuthMethod::Visual,
            other => bail!("choose face|pin|visual, got {other:?}"),
        })),
        "pin" => {
            let digits = Zeroizing::new(arg.unwrap_or_default().as_bytes().to_vec());
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                bail!("pin needs digits");
            }
            Action::Pin(digits)
        }
        "digit" => Action::Event(Event::PinDigit(u8::try_from(number(arg)?).map_err(|_| anyhow!("digit 0-9"))?)),
        "delete" => Action::Event(Event::PinDelete),
        "back" => Action::Event(Event::Back),
        "confirm-last-try" => Action::Event(Event::LastTryConfirmed),
        "consent" => Action::Event(Event::ConsentAnswered(yes_no(arg)?)),
        "register" => Action::Event(Event::RegistrationAnswered(yes_no(arg)?)),
        "still-here" => Action::Event(Event::StillHere),
        "staff" => match arg {
            Some("visual") => Action::Event(Event::StaffVisualMode(yes_no(words.next())?)),
            Some("confirm") => Action::Event(Event::StaffVisualConfirm(yes_no(words.next())?)),
            Some("cancel") => Action::Event(Event::StaffCancel),
            other => bail!("staff visual|confirm|cancel, got {other:?}"),
        },
        "fault" => {
            let n = number(words.next())? as usize;
            Action::Fault(match arg {
                Some("remove-before") => Fault::RemoveBefore(n),
                Some("remove-after") => Fault::RemoveAfter(n),
                Some("truncate") => Fault::TruncateAnswer(n),
                Some("garble") => Fault::GarbleAnswer(n),
                other => bail!("unknown fault {other:?}"),
            })
        }
        "slot" => {
            Action::Slot(arg.and_then(SlotView::parse).ok_or_else(|| {
                anyhow!("slot front|empty|upside-down|back|licence|juki|glare|unplugged, got {arg:?}")
            })?)
        }
        "face" => Action::Scene(arg.and_then(Scene::parse).ok_or_else(|| {
            let names: Vec<&str> = Scene::NAMES.iter().map(|(n, _)| *n).collect();
            anyhow!("face {}, got {arg:?}", names.join("|"))
        })?),
        "sleep" => Action::Sleep(Duration::from_millis(number(arg)?)),
        "quit" => Action::Quit,
        other => bail!("unknown action {other:?}"),
    };
    Ok(Some(action))
}

/// The hand that places and removes simulated cards.
pub trait CardHand: Send {
    /// Places `persona`'s card.
    fn insert(&self, persona: &str) -> Result<()>;
    /// Takes the card away.
    fn remove(&self) -> Result<()>;
    /// Arms a card fault.
    fn inject(&self, fault: Fault) -> Result<()>;
}

/// The in-process simulated slot.
pub struct SlotHand {
    /// The slot's control side.
    pub control: SimCardControl,
    /// Where the cards keep their counters.
    pub store: CounterStore,
}

impl CardHand for SlotHand {
    fn insert(&self, id: &str) -> Result<()> {
        let persona = persona::find(id).ok_or_else(|| {
            let known: Vec<_> = persona::PERSONAS.iter().map(|p| p.id).collect();
            anyhow!("unknown persona {id:?}; known: {known:?}")
        })?;
        self.control.insert(VirtualCard::issue(persona, self.store.clone()).context("issuing the virtual card")?);
        Ok(())
    }
    fn remove(&self) -> Result<()> {
        self.control.remove();
        Ok(())
    }
    fn inject(&self, fault: Fault) -> Result<()> {
        self.control.inject(fault);
        Ok(())
    }
}

/// A `kaoyomi-cardsim` behind pcscd, reached over its control socket.
pub struct CardsimHand {
    /// The control socket.
    pub control: std::path::PathBuf,
}

impl CardHand for CardsimHand {
    fn insert(&self, id: &str) -> Result<()> {
        kaoyomi_cardsim::control(&self.control, &format!("insert {id}")).map(drop)
    }
    fn remove(&self) -> Result<()> {
        kaoyomi_cardsim::control(&self.control, "remove").map(drop)
    }
    fn inject(&self, _fault: Fault) -> Result<()> {
        bail!("card faults can only be injected into the in-process simulated slot (board sim)")
    }
}

/// What the runner needs.
pub struct Runner {
    /// Core inputs.
    pub inputs: Sender<Input>,
    /// Names of the screens shown, in order.
    pub screens: Receiver<&'static str>,
    /// The hand for simulated cards (None on boards with a real card reader and real cards).
    pub card: Option<Box<dyn CardHand>>,
    /// The simulated face camera's scene (None without one).
    pub camera: Option<SimCameraControl>,
    /// What the simulated card camera sees (None without one).
    pub card_camera: Option<SimCardCameraControl>,
    /// A pause before each patient or staff action, so that someone watching the screens can
    /// follow a script (zero: as fast as the reader answers).
    pub pace: std::time::Duration,
}

impl Runner {
    /// Carries out one action after the pause set for watching (none before awaiting a screen).
    fn paced(&mut self, action: Action, seen: &mut Vec<&'static str>) -> Result<bool> {
        if !self.pace.is_zero() && !matches!(action, Action::Await(..) | Action::Sleep(_)) {
            std::thread::sleep(self.pace);
        }
        self.run(action, seen)
    }

    /// Carries out one action.
    pub fn run(&mut self, action: Action, seen: &mut Vec<&'static str>) -> Result<bool> {
        match &action {
            Action::Await(screen, timeout) => {
                let deadline = Instant::now() + *timeout;
                while !seen.iter().any(|s| s == screen) {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match self.screens.recv_timeout(left) {
                        Ok(name) => seen.push(name),
                        Err(RecvTimeoutError::Timeout) => {
                            bail!(
                                "screen {screen:?} did not appear within {}s (shown since the last action: {seen:?})",
                                timeout.as_secs()
                            )
                        }
                        Err(RecvTimeoutError::Disconnected) => bail!("the reader stopped"),
                    }
                }
                return Ok(true);
            }
            _ => {
                // Screens shown so far came before this action; `await` after it looks at later ones.
                while self.screens.try_recv().is_ok() {}
                seen.clear();
            }
        }
        match action {
            Action::Await(..) => {}
            Action::Insert(id) => self.hand()?.insert(&id)?,
            Action::Remove => self.hand()?.remove()?,
            Action::Event(event) => self.send(event)?,
            Action::Pin(digits) => {
                for d in digits.iter() {
                    self.send(Event::PinDigit(d - b'0'))?;
                }
            }
            Action::Fault(fault) => self.hand()?.inject(fault)?,
            Action::Slot(view) => {
                self.card_camera.as_ref().ok_or_else(|| anyhow!("this board has no simulated card camera"))?.set(view)
            }
            Action::Scene(scene) => {
                self.camera.as_ref().ok_or_else(|| anyhow!("this board has no simulated face camera"))?.set(scene)
            }
            Action::Sleep(d) => std::thread::sleep(d),
            Action::Quit => return Ok(false),
        }
        Ok(true)
    }

    fn hand(&self) -> Result<&dyn CardHand> {
        self.card.as_deref().ok_or_else(|| anyhow!("this board has no simulated cards to place or remove"))
    }

    fn send(&self, event: Event) -> Result<()> {
        self.inputs.send(Input::Core(event)).map_err(|_| anyhow!("the reader stopped"))
    }

    /// Runs `lines` to the end (or `quit`), then tells the reader to stop.
    pub fn run_script(mut self, lines: Vec<String>) {
        let mut seen = Vec::new();
        let mut result = Ok(());
        for (n, line) in lines.iter().enumerate() {
            let step = parse_line(line).with_context(|| format!("script line {}", n + 1));
            match step {
                Ok(None) => continue,
                Ok(Some(action)) => match self.paced(action, &mut seen) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        result = Err(format!("script line {}: {e:#}", n + 1));
                        break;
                    }
                },
                Err(e) => {
                    result = Err(format!("{e:#}"));
                    break;
                }
            }
        }
        let _ = self.inputs.send(Input::Quit(result));
    }

    /// Reads actions from stdin until EOF.
    pub fn run_stdin(mut self) {
        let mut seen = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            match parse_line(&line) {
                Ok(None) => {}
                Ok(Some(action)) => match self.paced(action, &mut seen) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => eprintln!("{e:#}"),
                },
                Err(e) => eprintln!("{e:#}"),
            }
        }
        let _ = self.inputs.send(Input::Quit(Ok(())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_action_and_rejects_typos() {
        assert!(parse_line("  # just a comment").unwrap().is_none());
        assert!(
            matches!(parse_line("await pin-entry 5").unwrap(), Some(Action::Await(s, d)) if s == "pin-entry" && d.as_secs() == 5)
        );
        assert!(matches!(parse_line("choose pin").unwrap(), Some(Action::Event(Event::MethodChosen(AuthMethod::Pin)))));
        assert!(matches!(parse_line("staff visual on").unwrap(), Some(Action::Event(Event::StaffVisualMode(true)))));
        assert!(matches!(parse_line("fault remove-before 3").unwrap(), Some(Action::Fault(Fault::RemoveBefore(3)))));
        assert!(matches!(parse_line("pin 4721").unwrap(), Some(Action::Pin(_))));
        assert!(matches!(parse_line("still-here").unwrap(), Some(Action::Event(Event::StillHere))));
        assert!(parse_line("pin 47a1").is_err());
        assert!(parse_line("choose iris").is_err());
        assert!(parse_line("consent maybe").is_err());
        assert!(parse_line("dance").is_err());
    }
}
