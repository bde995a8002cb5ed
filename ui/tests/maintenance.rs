//! The maintenance pages on the staff display, driven by accessible label with Slint's testing
//! backend against the reader's own main loop and desk (`kaoyomi_tests::Bench`): the login, the
//! forced change of the initial password, the pages, a setting saved, the self-tests, English, and nothing typed
//! left in the window.

use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementQuery};
use kaoyomi_core::Command;
use kaoyomi_maintenance::Role;
use kaoyomi_maintenance::contract::Action;
use kaoyomi_tests::Bench;
use kaoyomi_ui::view::Ui;
use kaoyomi_ui::{MaintenanceDesk, MaintenancePage, ScreenKind};
use slint::{ComponentHandle, Model};
use std::cell::RefCell;
use std::rc::Rc;

struct Staff {
    bench: Bench,
    ui: Ui,
    actions: Rc<RefCell<Vec<Action>>>,
    shown: usize,
    /// How many times the pages said someone is typing.
    typed: usize,
}

impl Staff {
    fn new(dir: &std::path::Path) -> Staff {
        i_slint_backend_testing::init_no_event_loop();
        let ui = Ui::new(Rc::new(|_| {})).unwrap();
        let actions: Rc<RefCell<Vec<Action>>> = Rc::default();
        let sink = actions.clone();
        ui.connect_maintenance(Rc::new(move |a| sink.borrow_mut().push(a)));
        let mut bench = Bench::new(dir, false);
        bench.attach_desk(dir);
        Staff { bench, ui, actions, shown: 0, typed: 0 }
    }

    /// Carries the pages' actions to the reader and what it shows back, as the reader does.
    fn pump(&mut self) {
        let actions: Vec<Action> = self.actions.borrow_mut().drain(..).collect();
        for a in actions {
            // The reader answers typing with no view.
            let typing = matches!(a, Action::Typing);
            self.typed += usize::from(typing);
            let view = self.bench.act(a);
            if !typing {
                self.ui.show_maintenance(&view);
            }
        }
        let new: Vec<_> = self.bench.commands[self.shown..].to_vec();
        self.shown = self.bench.commands.len();
        for c in new {
            if let Command::Show(state) = c {
                self.ui.show(&state);
            }
        }
    }

    fn find(&self, label: &str) -> Vec<ElementHandle> {
        let label = label.to_string();
        ElementQuery::from_root(&self.ui.staff)
            .match_descendants()
            .match_predicate(move |e| e.accessible_label().is_some_and(|l| l == label.as_str()))
            .find_all()
    }

    fn has(&self, label: &str) -> bool {
        !self.find(label).is_empty()
    }

    fn press(&mut self, label: &str, role: AccessibleRole) {
        let found: Vec<_> = self.find(label).into_iter().filter(|e| e.accessible_role() == Some(role)).collect();
        assert!(!found.is_empty(), "no {role:?} {label:?} on the staff display");
        found[0].invoke_accessible_default_action();
        self.pump();
    }

    fn button(&mut self, label: &str) {
        self.press(label, AccessibleRole::Button);
    }

    fn field(&self, label: &str) -> ElementHandle {
        self.find(label)
            .into_iter()
            .find(|e| e.accessible_role() == Some(AccessibleRole::TextInput))
            .unwrap_or_else(|| panic!("no field {label:?}"))
    }

    /// A reader whose staff display shows the login, its Device ID and the engineer's initial
    /// password.
    fn at_login(dir: &std::path::Path) -> (Staff, String, String) {
        let mut s = Staff::new(dir);
        let id = s.bench.main.serial().to_string();
        let initial = s.bench.main.desk().unwrap().accounts().initial_password(Role::Engineer).expose().to_string();
        s.button("メンテナンス");
        assert_eq!(s.page(), MaintenancePage::Login);
        (s, id, initial)
    }

    fn type_in(&self, label: &str, text: &str) {
        self.field(label).set_accessible_value(text);
    }

    fn page(&self) -> MaintenancePage {
        self.ui.staff.global::<MaintenanceDesk>().get_page()
    }
}

#[test]
fn an_engineer_logs_in_changes_the_password_and_uses_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, id, initial) = Staff::at_login(dir.path());
    s.type_in("デバイスID", &id);
    s.press("保守技術者", AccessibleRole::RadioButton);
    s.type_in("パスワード", "wrong-password-1");
    s.button("ログイン");
    assert!(s.has("パスワードが違います（あと4回間違えるとしばらくログインできません）。"));
    assert_eq!(
        s.field("パスワード").accessible_value().unwrap_or_default(),
        "",
        "the typed password leaves the window"
    );
    s.type_in("パスワード", &initial);
    s.button("ログイン");
    assert_eq!(s.page(), MaintenancePage::ChangePassword);
    assert!(s.has("初期パスワードのままです。新しいパスワードに変更してください。"));
    assert_eq!(s.ui.patient.get_screen(), ScreenKind::Maintenance, "the patient panel says maintenance");

    s.type_in("現在のパスワード", &initial);
    s.type_in("新しいパスワード", "short");
    s.type_in("新しいパスワード（確認）", "short");
    s.button("変更する");
    assert!(s.has("新しいパスワードが短すぎます（10文字以上）。"));
    s.type_in("現在のパスワード", &initial);
    s.type_in("新しいパスワード", "Kaoyomi-Field-2026");
    s.type_in("新しいパスワード（確認）", "Kaoyomi-Field-2026");
    s.button("変更する");
    assert_eq!(s.page(), MaintenancePage::Device);
    assert!(s.has(&format!("シリアル番号（デバイスID）: {id}")));

    s.press("設定", AccessibleRole::Tab);
    assert_eq!(s.page(), MaintenancePage::Settings);
    assert_eq!(s.field("音量（0〜10）").accessible_value().unwrap_or_default(), "6");
    s.type_in("音量（0〜10）", "11");
    s.button("保存する");
    assert!(s.has("保存できない値があります: volume: must be from 0 to 10"));
    s.type_in("音量（0〜10）", "3");
    s.button("保存する");
    assert!(s.has("設定を保存しました（第1版）。"));

    s.press("統計", AccessibleRole::Tab);
    assert_eq!(s.page(), MaintenancePage::Statistics);
    s.press("ログ", AccessibleRole::Tab);
    assert_eq!(s.page(), MaintenancePage::Logs);
    assert!(
        s.ui.staff.global::<MaintenanceDesk>().get_logs().iter().any(|l| l.code == "settings-changed:menu:engineer"),
        "the settings change is in the log"
    );

    // The self-tests, each part's line by its label and verdict.
    s.press("自己診断", AccessibleRole::Tab);
    assert_eq!(s.page(), MaintenancePage::SelfTest);
    s.button("自己診断を実行");
    assert!(s.has("カードリーダー: 正常"));
    assert!(s.has("端末との接続: 異常"), "no terminal is paired on the bench");
    assert!(s.has("顔認証カメラ: 対象外"));
    assert!(s.has("ログのデータベース: 正常"));
    assert!(s.has("自己診断が終わりました。1件の異常があります。"));

    // In English.
    s.button("English");
    assert!(s.has("Settings"));
    s.button("Log out");
    assert_eq!(s.page(), MaintenancePage::Closed);
    assert_eq!(s.ui.patient.get_screen(), ScreenKind::PlaceCard);
    let d = s.ui.staff.global::<MaintenanceDesk>();
    assert!(d.get_password().is_empty() && d.get_new_password().is_empty() && d.get_current_password().is_empty());
}

#[test]
fn the_facilitys_languages_and_consent_notes_reach_the_patient_screen() {
    use kaoyomi_core::{Screen, ScreenState};
    use kaoyomi_maintenance::Settings;
    use kaoyomi_maintenance::settings::{Language, Wording};
    use kaoyomi_protocol::ConsentTopic;
    i_slint_backend_testing::init_no_event_loop();
    let ui = Ui::new(Rc::new(|_| {})).unwrap();
    let labels = |ui: &Ui| -> Vec<String> {
        ElementQuery::from_root(&ui.patient)
            .match_descendants()
            .find_all()
            .into_iter()
            .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
            .collect()
    };
    ui.show(&ScreenState {
        screen: Screen::Consent { topic: ConsentTopic::Medical, index: 0, total: 1 },
        timeout_warning_s: None,
    });
    let before = labels(&ui);
    assert!(before.iter().any(|l| l == "中文") && before.iter().any(|l| l == "Português"));
    ui.set_language("zh_CN");
    let note = "当院では処方の確認のためにお薬の情報を見ます。";
    let settings = Settings {
        languages: vec![Language::Japanese, Language::English],
        consent_wording: vec![Wording { topic: "medical".into(), language: Language::Japanese, text: note.into() }],
        ..Settings::default()
    };
    ui.apply_settings(&settings);
    let after = labels(&ui);
    assert!(after.iter().any(|l| l == "English"), "{after:?}");
    assert!(!after.iter().any(|l| l == "中文" || l == "Português"), "{after:?}");
    assert_eq!(
        ui.patient.global::<kaoyomi_ui::Prefs>().get_language(),
        "ja",
        "a language no longer offered falls back to Japanese"
    );
    assert!(after.iter().any(|l| l == note), "the facility's note is on the consent screen: {after:?}");
    ui.set_language("en");
    assert!(!labels(&ui).iter().any(|l| l == note), "the Japanese note is not shown in English");
}

/// Types `text` on the staff display as a keyboard does (a press and a release per character;
/// `\t` is Tab, `\n` Enter), then carries the actions to the reader.
fn keyboard(s: &mut Staff, text: &str) {
    use slint::platform::{Key, WindowEvent};
    for c in text.chars() {
        let key: slint::SharedString = match c {
            '\t' => Key::Tab.into(),
            '\n' => Key::Return.into(),
            c => c.to_string().into(),
        };
        s.ui.staff.window().dispatch_event(WindowEvent::KeyPressed { text: key.clone() });
        s.ui.staff.window().dispatch_event(WindowEvent::KeyReleased { text: key });
    }
    s.pump();
}

#[test]
fn a_keyboard_alone_logs_in_and_changes_the_initial_password() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, id, initial) = Staff::at_login(dir.path());
    // The page opens with the Device ID's field ready; Tab goes on to the password, Enter sends.
    keyboard(&mut s, &format!("{id}\t{initial}\n"));
    assert_eq!(s.page(), MaintenancePage::ChangePassword, "logged in by keyboard");
    keyboard(&mut s, &format!("{initial}\tKaoyomi-Keys-2026\tKaoyomi-Keys-2026\n"));
    assert_eq!(s.page(), MaintenancePage::Device, "the password changed by keyboard");
    assert!(s.has("パスワードを変更しました。"));
    // Typing told the reader someone is at the keyboard, once: at most every 20 s.
    assert_eq!(s.typed, 1);
}
