//! `kaoyomi-cardgen`: writes rendered card fronts and the card camera's captures of them as PNG
//! files, with each card's 照合番号B in `truth.txt` (invented people; for looking at the test data).

use anyhow::Result;
use clap::Parser;
use image::GrayImage;
use kaoyomi_cardgen::{Fonts, OtherCard, Style, person, render};
use kaoyomi_hal_sim::capture::{self, Conditions, Difficulty};
use kaoyomi_vision::ocr::layout::{CARD_HEIGHT_MM, CARD_WIDTH_MM};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "kaoyomi-cardgen", about = "Renders invented My Number card fronts and camera captures of them")]
struct Cli {
    /// Output directory.
    out: PathBuf,
    /// How many cards.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Capture conditions: placed or hard.
    #[arg(long, default_value = "placed")]
    conditions: String,
    /// Instead: the fronts of the simulated personas' cards (`front-<persona>.png`, plain style)
    /// and cards that are not a front (`other-back|licence|juki.png`), as `hal/sim/assets` carries them.
    #[arg(long)]
    personas: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let fonts = Fonts::system()?;
    std::fs::create_dir_all(&cli.out)?;
    if cli.personas {
        for p in kaoyomi_hal_sim::persona::PERSONAS {
            if let Some(person) = kaoyomi_cardgen::people::of_persona(p)
                && !matches!(p.id, "cloned" | "tampered")
            {
                let card = render::front(&fonts, &person, &Style::plain(), &mut ChaCha8Rng::seed_from_u64(7));
                let path = cli.out.join(format!("front-{}.png", p.id));
                GrayImage::from_raw(card.width, card.height, card.pixels).map(|im| im.save(&path)).transpose()?;
                println!("{}", path.display());
            }
        }
        for (kind, name) in
            [(OtherCard::Back, "back"), (OtherCard::DriversLicence, "licence"), (OtherCard::Juki, "juki")]
        {
            let card = render::other(&fonts, kind, &Style::plain(), &mut ChaCha8Rng::seed_from_u64(7));
            let path = cli.out.join(format!("other-{name}.png"));
            GrayImage::from_raw(card.width, card.height, card.pixels).map(|im| im.save(&path)).transpose()?;
            println!("{}", path.display());
        }
        return Ok(());
    }
    let difficulty = if cli.conditions == "hard" { Difficulty::Hard } else { Difficulty::Placed };
    let mut truth = std::fs::File::create(cli.out.join("truth.txt"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(cli.seed);
    for i in 0..cli.count {
        let p = person(&mut rng);
        let style = Style::random(&mut rng, &fonts);
        let card = render::front(&fonts, &p, &style, &mut rng);
        let c = Conditions::sample(&mut rng, difficulty, CARD_WIDTH_MM, CARD_HEIGHT_MM);
        let frame = capture::capture(&card.pixels, card.width, card.height, CARD_WIDTH_MM, &c, &mut rng);
        GrayImage::from_raw(card.width, card.height, card.pixels)
            .map(|im| im.save(cli.out.join(format!("{i:04}-card.png"))));
        GrayImage::from_raw(capture::FRAME_WIDTH, capture::FRAME_HEIGHT, frame)
            .map(|im| im.save(cli.out.join(format!("{i:04}-frame.png"))));
        writeln!(truth, "{i:04} {} font={}", p.collation_b(), fonts.name(style.font))?;
    }
    Ok(())
}
