//! Assembly alone: tar + gzip + hashing of one binary into a layer, in MB/s.
//! Usage: `cargo bench --bench assemble -- FILE [FILE...]`; prints the median of 5 runs.

use cargo_containerize::api::{Compressor, Contents, Entry};
use std::time::Instant;

fn main() {
    let files: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if files.is_empty() {
        eprintln!("usage: cargo bench --bench assemble -- FILE [FILE...]");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for file in files {
        let size = std::fs::metadata(&file).expect("input file").len();
        let mut times = Vec::new();
        let mut out_size = 0;
        for i in 0..5 {
            let start = Instant::now();
            // Hashing the input is part of assembly: it keys the layer cache.
            let entry = Entry::file("app", file.clone().into(), 0o755).expect("hash input");
            let out = std::fs::File::create(dir.path().join(format!("layer{i}"))).expect("output");
            let (_, _, _, _, compressed) =
                Compressor::default().compress(&Contents::new(vec![entry]), out).expect("compress");
            times.push(start.elapsed().as_secs_f64());
            out_size = compressed;
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = times[times.len() / 2];
        let mb = size as f64 / 1e6;
        println!(
            "assemble {file}: {mb:.1} MB -> {:.1} MB gzip, median {:.3} s, {:.0} MB/s",
            out_size as f64 / 1e6,
            median,
            mb / median
        );
    }
}
