//! The maintenance pages' adapter: the reader's [`View`] onto the staff window's
//! `MaintenanceDesk` global, and the pages' callbacks back as [`Action`]s. The typed passwords
//! leave the window's properties as soon as they are read (the fields are emptied), and travel
//! as [`Password`]s, which wipe themselves.

use crate::wording::Wording;
use crate::{
    DayBar, InfoRow, LogRow, MaintenanceDesk, MaintenancePage, StaffWindow, StorageState, TestRow, TestVerdict, Words,
};
use kaoyomi_maintenance::contract::{Action, Page, Storage, Verdict, View};
use kaoyomi_maintenance::settings::{
    FaceAccuracy, KeyboardLayout, Language, OutputEncoding, Settings, Wording as ConsentWording,
};
use kaoyomi_maintenance::{Password, Role};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};
use std::cell::RefCell;
use std::rc::Rc;

/// Where the pages' actions go (the reader's input queue).
pub type Actions = Rc<dyn Fn(Action)>;

fn page(p: Page) -> MaintenancePage {
    match p {
        Page::Closed => MaintenancePage::Closed,
        Page::Login => MaintenancePage::Login,
        Page::ChangePassword => MaintenancePage::ChangePassword,
        Page::Device => MaintenancePage::Device,
        Page::Settings => MaintenancePage::Settings,
        Page::Logs => MaintenancePage::Logs,
        Page::Statistics => MaintenancePage::Statistics,
        Page::Pairing => MaintenancePage::Pairing,
        Page::SelfTest => MaintenancePage::SelfTest,
    }
}

fn from_page(p: MaintenancePage) -> Page {
    match p {
        MaintenancePage::Closed => Page::Closed,
        MaintenancePage::Login => Page::Login,
        MaintenancePage::ChangePassword => Page::ChangePassword,
        MaintenancePage::Device => Page::Device,
        MaintenancePage::Settings => Page::Settings,
        MaintenancePage::Logs => Page::Logs,
        MaintenancePage::Statistics => Page::Statistics,
        MaintenancePage::Pairing => Page::Pairing,
        MaintenancePage::SelfTest => Page::SelfTest,
    }
}

/// Takes a password out of a field, emptying it.
fn take(get: impl Fn() -> SharedString, clear: impl Fn(SharedString)) -> Password {
    let typed = Password::new(get().as_str());
    clear(SharedString::default());
    typed
}

/// Installs the catalogue's lookup on the staff window.
pub fn install_wording(staff: &StaffWindow, wording: Rc<RefCell<Wording>>) {
    staff.global::<Words>().on_lookup(move |key, value, lang, _revision| {
        wording.borrow().text(key.as_str(), value.as_str(), lang.as_str()).into()
    });
}

/// Wires the pages' callbacks to `actions`.
pub fn connect(staff: &StaffWindow, actions: Actions) {
    let desk = staff.global::<MaintenanceDesk>();
    let a = actions.clone();
    staff.on_open_maintenance(move || a(Action::Open));
    let (a, weak) = (actions.clone(), staff.as_weak());
    desk.on_login(move || {
        let Some(staff) = weak.upgrade() else { return };
        let d = staff.global::<MaintenanceDesk>();
        let role = if d.get_login_role() == "facility-admin" { Role::FacilityAdmin } else { Role::Engineer };
        let password = take(|| d.get_password(), |v| d.set_password(v));
        a(Action::Login { device_id: d.get_device_id().to_string(), role, password });
    });
    let (a, weak) = (actions.clone(), staff.as_weak());
    desk.on_change_password(move || {
        let Some(staff) = weak.upgrade() else { return };
        let d = staff.global::<MaintenanceDesk>();
        let current = take(|| d.get_current_password(), |v| d.set_current_password(v));
        let new = take(|| d.get_new_password(), |v| d.set_new_password(v));
        let repeated = take(|| d.get_repeat_password(), |v| d.set_repeat_password(v));
        a(Action::ChangePassword { current, new, repeated });
    });
    let a = actions.clone();
    desk.on_show(move |p| a(Action::Show(from_page(p))));
    let (a, weak) = (actions.clone(), staff.as_weak());
    desk.on_save_settings(move || {
        let Some(staff) = weak.upgrade() else { return };
        a(Action::SaveSettings(form(&staff.global::<MaintenanceDesk>())));
    });
    let a = actions.clone();
    desk.on_reset_database(move || a(Action::ResetDatabase));
    let a = actions.clone();
    desk.on_unpair_all(move || a(Action::UnpairAll));
    let a = actions.clone();
    desk.on_run_self_tests(move || a(Action::RunSelfTests));
    let a = actions.clone();
    desk.on_logout(move || a(Action::Logout));
    // Said at most every TYPING_EVERY_MS, whatever the typing speed.
    let (a, said) = (actions, std::cell::Cell::new(None::<std::time::Instant>));
    desk.on_typing(move || {
        let every = std::time::Duration::from_millis(kaoyomi_maintenance::contract::TYPING_EVERY_MS);
        if said.get().is_none_or(|t: std::time::Instant| t.elapsed() >= every) {
            said.set(Some(std::time::Instant::now()));
            a(Action::Typing);
        }
    });
}

/// A number typed in a field; an unreadable one becomes a value every range refuses, so that
/// the page names the field.
fn number(text: SharedString) -> u32 {
    text.trim().parse().unwrap_or(u32::MAX)
}

/// The settings form as [`Settings`] (checked by the reader, which refuses bad values with reasons).
fn form(d: &MaintenanceDesk<'_>) -> Settings {
    let mut languages = vec![Language::Japanese];
    for (on, lang) in [
        (d.get_lang_en(), Language::English),
        (d.get_lang_zh(), Language::Chinese),
        (d.get_lang_ko(), Language::Korean),
        (d.get_lang_vi(), Language::Vietnamese),
        (d.get_lang_pt(), Language::Portuguese),
    ] {
        if on {
            languages.push(lang);
        }
    }
    let mut consent_wording = Vec::new();
    for (topic, text) in
        [("medical", d.get_wording_medical()), ("checkup", d.get_wording_checkup()), ("limit", d.get_wording_limit())]
    {
        if !text.trim().is_empty() {
            consent_wording.push(ConsentWording {
                topic: topic.into(),
                language: Language::Japanese,
                text: text.to_string(),
            });
        }
    }
    Settings {
        face_accuracy: match d.get_accuracy() {
            0 => FaceAccuracy::Relaxed,
            2 => FaceAccuracy::Strict,
            _ => FaceAccuracy::Standard,
        },
        visual_check_default: d.get_visual_default(),
        patient_timeout_s: number(d.get_patient_timeout()),
        timeout_warning_s: number(d.get_warning()),
        face_timeout_s: number(d.get_face_timeout()),
        consent_wording,
        languages,
        output_encoding: if d.get_shift_jis() { OutputEncoding::ShiftJis } else { OutputEncoding::Utf8 },
        keyboard_layout: if d.get_keyboard_us() { KeyboardLayout::Us } else { KeyboardLayout::Jis },
        volume: u8::try_from(number(d.get_volume())).unwrap_or(u8::MAX),
        brightness: u8::try_from(number(d.get_brightness())).unwrap_or(u8::MAX),
        log_retention_days: number(d.get_retention()),
    }
}

fn fill_form(d: &MaintenanceDesk<'_>, s: &Settings) {
    d.set_accuracy(match s.face_accuracy {
        FaceAccuracy::Relaxed => 0,
        FaceAccuracy::Standard => 1,
        FaceAccuracy::Strict => 2,
    });
    d.set_visual_default(s.visual_check_default);
    d.set_patient_timeout(s.patient_timeout_s.to_string().into());
    d.set_warning(s.timeout_warning_s.to_string().into());
    d.set_face_timeout(s.face_timeout_s.to_string().into());
    d.set_shift_jis(s.output_encoding == OutputEncoding::ShiftJis);
    d.set_keyboard_us(s.keyboard_layout == KeyboardLayout::Us);
    d.set_volume(s.volume.to_string().into());
    d.set_brightness(s.brightness.to_string().into());
    d.set_retention(s.log_retention_days.to_string().into());
    d.set_lang_en(s.languages.contains(&Language::English));
    d.set_lang_zh(s.languages.contains(&Language::Chinese));
    d.set_lang_ko(s.languages.contains(&Language::Korean));
    d.set_lang_vi(s.languages.contains(&Language::Vietnamese));
    d.set_lang_pt(s.languages.contains(&Language::Portuguese));
    let w = |topic| s.wording(topic, Language::Japanese).unwrap_or_default().into();
    d.set_wording_medical(w("medical"));
    d.set_wording_checkup(w("checkup"));
    d.set_wording_limit(w("limit"));
}

/// Shows `view` on the staff window (`wording` puts the message in words).
pub fn show(staff: &StaffWindow, view: &View, wording: &Wording) {
    let d = staff.global::<MaintenanceDesk>();
    let before = d.get_page();
    d.set_page(page(view.page));
    d.set_role(view.role.map(|r| r.code()).unwrap_or_default().into());
    let lang = staff.global::<Words>().get_lang();
    d.set_message(wording.text(view.message.key, &view.message.value, &lang).into());
    d.set_message_bad(view.message.bad);
    d.set_storage(match view.storage {
        Storage::Ready => StorageState::Ready,
        Storage::Full => StorageState::Full,
        Storage::ReadOnly => StorageState::ReadOnly,
        Storage::Unavailable => StorageState::Unavailable,
    });
    d.set_storage_problem(view.storage_problem.as_str().into());
    d.set_terminals(i32::try_from(view.terminals).unwrap_or(i32::MAX));
    let rows: Vec<InfoRow> =
        view.device.iter().map(|(k, v)| InfoRow { label: (*k).into(), value: v.as_str().into() }).collect();
    d.set_device(ModelRc::new(VecModel::from(rows)));
    let logs: Vec<LogRow> = view
        .logs
        .iter()
        .map(|l| LogRow {
            time: l.time.as_str().into(),
            code: l.code.as_str().into(),
            value: l.value.as_str().into(),
            error: l.error,
        })
        .collect();
    d.set_logs(ModelRc::new(VecModel::from(logs)));
    let tests: Vec<TestRow> = view
        .tests
        .iter()
        .map(|t| TestRow {
            part: t.part.code().into(),
            verdict: match t.verdict {
                Verdict::Running => TestVerdict::Running,
                Verdict::Passed => TestVerdict::Passed,
                Verdict::Failed => TestVerdict::Failed,
                Verdict::NotFitted => TestVerdict::NotFitted,
            },
            value: t.value.as_str().into(),
            note: t.note.into(),
        })
        .collect();
    d.set_tests(ModelRc::new(VecModel::from(tests)));
    let clamp = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let days: Vec<DayBar> = view
        .days
        .iter()
        .map(|l| DayBar {
            day: l.day.as_str().into(),
            face: clamp(l.face),
            pin: clamp(l.pin),
            visual: clamp(l.visual),
            none: clamp(l.none),
            face_rate: l.face_rate.as_str().into(),
            mean: l.mean_s.as_str().into(),
            p95: l.p95_s.as_str().into(),
        })
        .collect();
    let max = view.days.iter().map(|l| l.face + l.pin + l.visual + l.none).max().unwrap_or(0).max(1);
    d.set_day_max(clamp(max));
    d.set_days(ModelRc::new(VecModel::from(days)));
    // The form shows the settings in force when its page opens (not while someone edits it).
    if let Some(current) = &view.settings
        && (view.page != Page::Settings || before != MaintenancePage::Settings || !view.message.bad)
    {
        fill_form(&d, &current.settings);
    }
    if view.page == Page::Closed {
        // Nothing typed stays in the window once maintenance is left.
        d.set_password(SharedString::default());
        d.set_current_password(SharedString::default());
        d.set_new_password(SharedString::default());
        d.set_repeat_password(SharedString::default());
        staff.global::<Words>().set_lang("ja".into());
    }
}
