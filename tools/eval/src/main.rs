//! `kaoyomi-eval-face` (run by `cargo xtask eval-face`): the face pipeline measured on LFW
//! (`../shared/datasets/lfw`, evaluation data only: read, never copied, never shipped).
//!
//! View 2: the ten folds of `pairs.txt`; for each fold the threshold that is best on the other
//! nine is applied to it; the mean accuracy and its spread are printed. Images where no face is
//! found count as failures to acquire and are reported separately; their pairs score -1 (a
//! non-match), so they cost accuracy rather than vanish.

use anyhow::{Context, Result, bail};
use clap::Parser;
use kaoyomi_models::sface::SFace;
use kaoyomi_models::yunet::YuNet;
use kaoyomi_models::{Embedding, FaceDetector, FaceEmbedder};
use kaoyomi_vision::{GreyImage, align, pick};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "kaoyomi-eval-face", about = "Face pipeline accuracy on LFW")]
struct Cli {
    /// The LFW directory (with pairs.txt and lfw-deepfunneled/).
    #[arg(long)]
    lfw: PathBuf,
    /// The model directory (`cargo xtask models`).
    #[arg(long)]
    models: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Only the first N folds (quick runs).
    #[arg(long, default_value_t = 10)]
    folds: usize,
}

/// One pair of View 2: two image keys and whether they show the same person.
struct Pair {
    a: String,
    b: String,
    same: bool,
    fold: usize,
}

fn key(name: &str, index: &str) -> Result<String> {
    let n: u32 = index.parse().with_context(|| format!("bad image number {index:?}"))?;
    Ok(format!("{name}/{name}_{n:04}"))
}

fn read_pairs(lfw: &Path) -> Result<Vec<Pair>> {
    let text = std::fs::read_to_string(lfw.join("pairs.txt")).context("reading pairs.txt")?;
    let mut lines = text.lines();
    let header: Vec<usize> =
        lines.next().unwrap_or_default().split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let per_fold = header.get(1).copied().unwrap_or(300) * 2;
    let mut pairs = Vec::new();
    for (i, line) in lines.enumerate() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let fold = i / per_fold;
        match w.as_slice() {
            [n, i, j] => pairs.push(Pair { a: key(n, i)?, b: key(n, j)?, same: true, fold }),
            [n1, i, n2, j] => pairs.push(Pair { a: key(n1, i)?, b: key(n2, j)?, same: false, fold }),
            _ => {}
        }
    }
    if pairs.len() != 6000 {
        bail!("pairs.txt gave {} pairs, View 2 has 6000", pairs.len());
    }
    Ok(pairs)
}

/// The whole pipeline on one still image: detect, pick the central face, align, embed.
fn embed_image(path: &Path, detector: &mut YuNet, embedder: &mut SFace) -> Result<Option<Embedding>> {
    let img = image::open(path).with_context(|| format!("reading {}", path.display()))?.to_luma8();
    let (w, h) = img.dimensions();
    let grey = GreyImage::new(w, h, img.into_raw()).context("image size")?;
    let faces = detector.detect(grey.view(), 0.5)?;
    let Some(face) = pick::patient(&faces, w, h) else { return Ok(None) };
    let aligned = align::align(grey.view(), &face.landmarks);
    Ok(Some(embedder.embed(aligned.view())?))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let pairs: Vec<Pair> = read_pairs(&cli.lfw)?.into_iter().filter(|p| p.fold < cli.folds).collect();
    let keys: Vec<String> =
        pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect::<BTreeSet<_>>().into_iter().collect();
    eprintln!("eval-face: {} pairs, {} images, {} threads", pairs.len(), keys.len(), cli.threads);
    let started = Instant::now();
    let next = Mutex::new(0usize);
    let results: Mutex<BTreeMap<String, Option<Embedding>>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        for _ in 0..cli.threads.max(1) {
            workers.push(s.spawn(|| -> Result<()> {
                let mut detector = YuNet::load(&cli.models)?;
                let mut embedder = SFace::load(&cli.models)?;
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        *n += 1;
                        *n - 1
                    };
                    let Some(k) = keys.get(i) else { return Ok(()) };
                    let path = cli.lfw.join("lfw-deepfunneled").join(format!("{k}.jpg"));
                    let e = embed_image(&path, &mut detector, &mut embedder)?;
                    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
                    r.insert(k.clone(), e);
                    if r.len().is_multiple_of(1000) {
                        eprintln!("eval-face: {} images in {:.0} s", r.len(), started.elapsed().as_secs_f64());
                    }
                }
            }));
        }
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        }
        Ok(())
    })?;
    let embeddings = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let secs = started.elapsed().as_secs_f64();
    let missed = embeddings.values().filter(|e| e.is_none()).count();
    let scored: Vec<(f32, bool, usize)> = pairs
        .iter()
        .map(|p| {
            let s = match (&embeddings[&p.a], &embeddings[&p.b]) {
                (Some(a), Some(b)) => a.similarity(b),
                _ => -1.0,
            };
            (s, p.same, p.fold)
        })
        .collect();
    let accuracy = |t: f32, fold: Option<usize>, exclude: Option<usize>| {
        let sel: Vec<_> =
            scored.iter().filter(|(_, _, f)| fold.is_none_or(|x| *f == x) && exclude.is_none_or(|x| *f != x)).collect();
        sel.iter().filter(|(s, same, _)| (*s >= t) == *same).count() as f64 / sel.len().max(1) as f64
    };
    let mean_of = |same: bool| {
        let v: Vec<f32> = scored.iter().filter(|x| x.1 == same).map(|x| x.0).collect();
        v.iter().sum::<f32>() / v.len().max(1) as f32
    };
    println!("  mean cosine: same person {:.3}, different people {:.3}", mean_of(true), mean_of(false));
    let mut accs = Vec::new();
    let mut thresholds = Vec::new();
    for fold in 0..cli.folds {
        let best = (0..=1000)
            .map(|i| -0.2 + 1.0 * i as f32 / 1000.0)
            .max_by(|a, b| {
                // With one fold there is no other fold to learn from: learn on it (said below).
                let exclude = (cli.folds > 1).then_some(fold);
                accuracy(*a, None, exclude).total_cmp(&accuracy(*b, None, exclude))
            })
            .unwrap_or(0.36);
        thresholds.push(best);
        accs.push(accuracy(best, Some(fold), None));
    }
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    let sd = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / accs.len() as f64).sqrt();
    let tmean = thresholds.iter().sum::<f32>() / thresholds.len() as f32;
    println!(
        "LFW View 2 ({} folds, {} pairs): accuracy {:.2}% ± {:.2}%",
        cli.folds,
        scored.len(),
        mean * 100.0,
        sd * 100.0
    );
    println!("  threshold (cosine) chosen on the other folds: mean {tmean:.3}");
    println!(
        "  failure to acquire: {missed} of {} images ({:.2}%): no face found",
        embeddings.len(),
        100.0 * missed as f64 / embeddings.len().max(1) as f64
    );
    println!(
        "  {} images in {secs:.0} s with {} threads ({:.1} ms per image per thread)",
        embeddings.len(),
        cli.threads,
        1000.0 * secs * cli.threads as f64 / embeddings.len().max(1) as f64
    );
    Ok(())
}
