//! Compiles the Slint screens with their translations bundled, and their fonts embedded: M+ from
//! Debian's `fonts-mplus` (the reference device's font: Japanese, Latin, Vietnamese) and
//! WenQuanYi Micro Hei from `fonts-wqy-microhei` (simplified Chinese and Hangul, which M+ lacks;
//! Apache-2.0 or GPL-3.0): a device has no system fonts to fall back on. `ui/app.slint` imports
//! the faces, found through the include path where this script copies them.

use std::path::{Path, PathBuf};

/// Where Debian's `fonts-mplus` puts M+ 1 (`cargo xtask test` installs the pinned package).
const MPLUS_DIR: &str = "/usr/share/fonts/opentype/mplus";
const FACES: &[&str] = &["Mplus1-Regular.otf", "Mplus1-Bold.otf"];
/// Where Debian's `fonts-wqy-microhei` puts WenQuanYi Micro Hei.
const WQY: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let fonts = out.join("fonts");
    std::fs::create_dir_all(&fonts).expect("creating the font directory in OUT_DIR");
    let dir = std::env::var("KAOYOMI_MPLUS_DIR").unwrap_or_else(|_| MPLUS_DIR.to_string());
    for face in FACES {
        let from = Path::new(&dir).join(face);
        println!("cargo:rerun-if-changed={}", from.display());
        if let Err(e) = std::fs::copy(&from, fonts.join(face)) {
            panic!(
                "the UI bundles the M+ font: {} cannot be read ({e}); install Debian's fonts-mplus \
                 (`cargo xtask test` does) or point KAOYOMI_MPLUS_DIR at its directory",
                from.display()
            );
        }
    }
    println!("cargo:rerun-if-changed={WQY}");
    if let Err(e) = std::fs::copy(WQY, fonts.join("wqy-microhei.ttc")) {
        panic!(
            "the UI bundles WenQuanYi Micro Hei for Chinese and Korean: {WQY} cannot be read ({e}); \
             install Debian's fonts-wqy-microhei (`cargo xtask test` does)"
        );
    }
    println!("cargo:rerun-if-env-changed=KAOYOMI_MPLUS_DIR");
    println!("cargo:rerun-if-changed=ui");
    println!("cargo:rerun-if-changed=lang");
    let config = slint_build::CompilerConfiguration::new()
        .with_include_paths(vec![fonts])
        .with_bundled_translations("lang")
        // The catalogue has one entry per sentence, whichever screen shows it.
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        // Element information for Slint's testing backend (the tests find controls by their
        // accessible labels).
        .with_debug_info(true)
        .embed_resources(slint_build::EmbedResourcesKind::EmbedFiles);
    slint_build::compile_with_config("ui/app.slint", config).expect("compiling the Slint screens");
}
