//! Invented card holders: names put together from common family and given names (no list of real
//! people is used), invented addresses, birth dates across every era (明治 to 令和, 元年 included),
//! expiries as the card law sets them (the 10th birthday after issue for adults, the 5th for
//! children; a residence period for foreign residents), random security codes.

use kaoyomi_vision::ocr::date::{Date, EraDate};
use rand::Rng;

/// One invented card holder.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// Name as printed (kanji, or Latin letters for a foreign resident).
    pub name: String,
    /// Address, one or two printed lines.
    pub address: Vec<String>,
    /// Birth date.
    pub birth: Date,
    /// Printed 「女」 (true) or 「男」.
    pub female: bool,
    /// Card expiry.
    pub expiry: Date,
    /// The four-digit security code.
    pub security_code: String,
    /// A foreign resident's card: birth date printed in the Gregorian calendar.
    pub foreign: bool,
}

impl Person {
    /// The birth date as printed: 「昭和55年 2月17日生」, or 「1980年 2月17日生」 on a foreign
    /// resident's card. `pad` writes single-digit numbers with a leading space, as the card does.
    pub fn birth_line(&self, pad: bool) -> String {
        let n = |v: u8| if pad { format!("{v:>2}") } else { v.to_string() };
        if self.foreign {
            return format!("{}年{}月{}日生", self.birth.year, n(self.birth.month), n(self.birth.day));
        }
        let e = EraDate::from_date(self.birth).expect("people are born in an era");
        let year = if e.year == 1 { "元".to_string() } else { n(e.year) };
        format!("{}{year}年{}月{}日生", e.era.name(), n(e.month), n(e.day))
    }

    /// The expiry as printed: 「2035年 2月17日まで有効」.
    pub fn expiry_line(&self, pad: bool) -> String {
        let n = |v: u8| if pad { format!("{v:>2}") } else { v.to_string() };
        format!("{}年{}月{}日まで有効", self.expiry.year, n(self.expiry.month), n(self.expiry.day))
    }

    /// The 照合番号B this card opens with: birth YYMMDD (era year; Gregorian for a foreign
    /// resident, an assumption: see `docs/ocr.md`), expiry year, security code.
    pub fn collation_b(&self) -> String {
        let birth = if self.foreign {
            format!("{:02}{:02}{:02}", self.birth.year % 100, self.birth.month, self.birth.day)
        } else {
            EraDate::from_date(self.birth).expect("people are born in an era").digits()
        };
        format!("{birth}{}{}", self.expiry.year, self.security_code)
    }
}

const FAMILY: &[&str] = &[
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "山崎",
    "森",
    "池田",
    "橋本",
    "阿部",
    "石川",
    "前田",
    "藤田",
    "小川",
    "岡田",
    "後藤",
    "長谷川",
    "村上",
    "近藤",
    "石井",
    "坂本",
    "遠藤",
    "青木",
    "藤井",
    "西村",
];
const GIVEN_F: &[&str] =
    &["花子", "陽子", "恵美", "直子", "由美子", "智子", "美咲", "結衣", "さくら", "陽菜", "千代", "和子", "幸子", "凛"];
const GIVEN_M: &[&str] =
    &["太郎", "一郎", "健一", "誠", "浩", "大輔", "翔太", "蓮", "悠真", "清", "茂", "勇", "拓也", "健太郎"];
const LATIN_FAMILY: &[&str] = &["NGUYEN", "SILVA", "SANTOS", "KIM", "WANG", "LI", "TRAN", "PEREIRA", "LEE", "GARCIA"];
const LATIN_GIVEN: &[&str] =
    &["VAN AN", "ANA", "JOAO", "MIN JUN", "XIAO MEI", "THI HOA", "LUCAS", "MARIA", "WEI", "JOSE"];
const PLACES: &[&str] = &[
    "東京都千代田区霞が関",
    "大阪府大阪市北区梅田",
    "愛知県名古屋市中区栄",
    "北海道札幌市中央区北一条西",
    "福岡県福岡市博多区博多駅前",
    "宮城県仙台市青葉区本町",
    "広島県広島市中区基町",
    "京都府京都市左京区岡崎",
    "沖縄県那覇市泉崎",
    "新潟県新潟市中央区学校町通",
    "静岡県浜松市中央区元城町",
    "熊本県熊本市中央区手取本町",
];
const BUILDINGS: &[&str] = &["", "", "コーポ山田 203号", "サンハイツ 5F", "グリーンマンション 101"];

fn pick<'a>(rng: &mut impl Rng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

fn random_date(rng: &mut impl Rng, from: Date, to: Date) -> Date {
    loop {
        let year = rng.gen_range(from.year..=to.year);
        if let Some(d) = Date::new(year, rng.gen_range(1..=12), rng.gen_range(1..=31))
            && d >= from
            && d <= to
        {
            return d;
        }
    }
}

/// The same month and day `years` later (29 February becomes 28 February in a common year).
fn birthday_in(birth: Date, year: u16) -> Date {
    Date::new(year, birth.month, birth.day).or_else(|| Date::new(year, birth.month, birth.day - 1)).expect("a date")
}

/// One invented person, the card issued between 2016 and 2026.
pub fn person(rng: &mut impl Rng) -> Person {
    let foreign = rng.gen_bool(0.12);
    let today = Date::new(2026, 11, 1).expect("a date");
    let birth = match rng.gen_range(0..100) {
        // The first year of an era (元年) is printed differently: make sure it is common.
        0..=5 => {
            let era = kaoyomi_vision::ocr::date::ERAS[rng.gen_range(1..5)];
            let first = era.first();
            random_date(rng, first, Date::new(first.year, 12, 31).expect("a date").min(today))
        }
        6..=7 if !foreign => {
            random_date(rng, Date::new(1905, 1, 1).expect("a date"), Date::new(1912, 7, 29).expect("a date"))
        }
        _ => random_date(rng, Date::new(1915, 1, 1).expect("a date"), Date::new(2025, 12, 31).expect("a date")),
    };
    let issued = random_date(rng, Date::new(2016, 1, 1).expect("a date").max(birth), today);
    let expiry = if foreign {
        random_date(rng, issued, Date::new(issued.year + 5, 12, 31).expect("a date"))
    } else {
        let adult = issued.year - birth.year >= 19;
        let n = if adult { 10 } else { 5 };
        let mut year = issued.year + n - 1;
        while birthday_in(birth, year) <= issued || year < issued.year + n {
            year += 1;
        }
        birthday_in(birth, year)
    };
    let female = rng.gen_bool(0.5);
    let name = if foreign {
        format!("{} {}", pick(rng, LATIN_FAMILY), pick(rng, LATIN_GIVEN))
    } else {
        format!("{} {}", pick(rng, FAMILY), pick(rng, if female { GIVEN_F } else { GIVEN_M }))
    };
    let mut address = vec![format!(
        "{}{}丁目{}番{}号",
        pick(rng, PLACES),
        rng.gen_range(1..=5),
        rng.gen_range(1..=30),
        rng.gen_range(1..=20)
    )];
    let building = pick(rng, BUILDINGS);
    if !building.is_empty() {
        address.push(building.to_string());
    }
    let security_code = format!("{:04}", rng.gen_range(0..10_000));
    Person { name, address, birth, female, expiry, security_code, foreign }
}

/// The invented holder printed on a simulated persona's card (`kaoyomi_hal_sim::persona`), if
/// the persona is a card with a card face: the chip's birth date, expiry and security code, a
/// name and address made up for it.
pub fn of_persona(p: &kaoyomi_hal_sim::persona::Persona) -> Option<Person> {
    let face = p.face?;
    let collation = p.collation_b?;
    let name = match p.id {
        "normal" | "cloned" | "tampered" => "顔読 花子",
        "last-try" => "試験 和子",
        "blocked" => "番号 陽子",
        "pinless" => "令和 さくら",
        "expired" => "期限 千代",
        _ => "見本 花子",
    };
    Some(Person {
        name: name.into(),
        address: vec!["東京都千代田区霞が関2丁目1番2号".into()],
        birth: Date::parse_compact(face.birth)?,
        female: face.sex == "2",
        expiry: Date::parse_compact(face.expiry)?,
        security_code: collation[10..].into(),
        foreign: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn printed_lines_and_collation_numbers_follow_the_card() {
        let p = Person {
            name: "見本 花子".into(),
            address: vec![],
            birth: Date::new(1980, 2, 17).unwrap(),
            female: true,
            expiry: Date::new(2035, 2, 17).unwrap(),
            security_code: "2285".into(),
            foreign: false,
        };
        assert_eq!(p.birth_line(true), "昭和55年 2月17日生");
        assert_eq!(p.expiry_line(true), "2035年 2月17日まで有効");
        assert_eq!(p.collation_b(), "55021720352285");
        let gannen = Person { birth: Date::new(1989, 1, 8).unwrap(), ..p.clone() };
        assert_eq!(gannen.birth_line(false), "平成元年1月8日生");
        assert_eq!(&gannen.collation_b()[..6], "010108");
    }

    #[test]
    fn each_simulated_card_prints_the_collation_number_its_chip_takes() {
        for p in kaoyomi_hal_sim::persona::PERSONAS {
            if let Some(person) = of_persona(p) {
                assert_eq!(Some(person.collation_b().as_str()), p.collation_b, "{}", p.id);
            }
        }
    }

    #[test]
    fn japanese_cards_expire_on_a_birthday_after_issue_and_all_eras_occur() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut eras = std::collections::HashSet::new();
        for _ in 0..2000 {
            let p = person(&mut rng);
            assert!(p.expiry > p.birth);
            if !p.foreign {
                assert_eq!(p.expiry.month, p.birth.month);
                assert!(p.expiry.day == p.birth.day || (p.birth.month, p.birth.day) == (2, 29));
                eras.insert(EraDate::from_date(p.birth).unwrap().era);
            }
        }
        assert_eq!(eras.len(), 5);
    }
}
