//! Writes the seed corpus of every fuzz target (and libFuzzer dictionaries) under a directory,
//! usually `fuzz/`: `cargo run -p wflow-fuzz --example seeds -- fuzz`, which fills
//! `fuzz/corpus/<target>/` and `fuzz/dict/<target>.dict`. See `fuzz/README.md`.

use std::path::PathBuf;

use wflow_fuzz::{manifest, policy};

/// A fuzz target's name, seeds and dictionary.
type Target = (&'static str, Vec<Vec<u8>>, &'static [&'static [u8]]);

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz".into()));
    let graph_seeds: Vec<Vec<u8>> = (0u8..16)
        .map(|i| vec![i * 2, i, 7, 1, 2, 0, 1, 3])
        .collect();
    #[allow(unused_mut)]
    let mut targets: Vec<Target> = vec![
        ("manifest", manifest::seeds(), manifest::DICT),
        ("policy", policy::seeds(), policy::DICT),
        ("graph", graph_seeds, &[]),
    ];
    #[cfg(feature = "contract")]
    targets.push(("contract", wflow_fuzz::contract::seeds(), &[]));
    for (name, seeds, dict) in targets {
        let dir = root.join("corpus").join(name);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), seed)?;
        }
        if !dict.is_empty() {
            std::fs::create_dir_all(root.join("dict"))?;
            let lines: String = dict
                .iter()
                .map(|token| {
                    let escaped: String = token.iter().map(|b| format!("\\x{b:02x}")).collect();
                    format!("\"{escaped}\"\n")
                })
                .collect();
            std::fs::write(root.join("dict").join(format!("{name}.dict")), lines)?;
        }
        println!("{name}: {} seeds in {}", seeds.len(), dir.display());
    }
    Ok(())
}
