//! Parallel gzip, as pigz does it: the input is cut into 1 MiB chunks, each deflated on its
//! own core with the previous chunk's last 32 KiB as its dictionary and ended with a sync
//! flush, and the pieces are joined into one gzip member. The output depends only on the
//! input, the level and the chunk size, never on the number of threads or their timing.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// The size of the pieces compressed independently; part of the output's identity.
pub(crate) const CHUNK: usize = 1 << 20;
const DICT: usize = 32 << 10;

/// The gzip header: no file name, no time (mtime 0), no extra flags, OS "unknown".
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

struct Job {
    index: usize,
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

/// Compresses everything `input` yields into `out` as one gzip member, using `threads`
/// workers; returns `out`.
pub(crate) fn compress<R: Read + Send, W: Write>(
    mut input: R,
    mut out: W,
    level: u32,
    threads: usize,
) -> io::Result<W> {
    out.write_all(&HEADER)?;
    let mut crc = Crc::new();
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads * 2);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<(usize, io::Result<Vec<u8>>)>();
    std::thread::scope(|scope| -> io::Result<()> {
        for _ in 0..threads.max(1) {
            let (jobs, done) = (job_rx.clone(), done_tx.clone());
            scope.spawn(move || loop {
                let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                    Ok(job) => job,
                    Err(_) => return,
                };
                let _ = done.send((job.index, deflate(level, &job.dict, &job.data, job.last)));
            });
        }
        drop(done_tx);
        let feed = scope.spawn(move || -> io::Result<(Crc, usize)> {
            let mut current = read_chunk(&mut input)?;
            let mut dict = Vec::new();
            let mut index = 0;
            loop {
                crc.update(&current);
                let next = if current.len() == CHUNK { read_chunk(&mut input)? } else { Vec::new() };
                let last = next.is_empty();
                let next_dict = current[current.len().saturating_sub(DICT)..].to_vec();
                let job = Job { index, dict: std::mem::take(&mut dict), data: current, last };
                if job_tx.send(job).is_err() {
                    return Err(io::Error::other("the compression workers stopped"));
                }
                index += 1;
                if last {
                    return Ok((crc, index));
                }
                dict = next_dict;
                current = next;
            }
        });
        // Write the pieces in order as they come back.
        let mut pending = BTreeMap::new();
        let mut written = 0;
        for (index, piece) in done_rx.iter() {
            pending.insert(index, piece?);
            while let Some(piece) = pending.remove(&written) {
                out.write_all(&piece)?;
                written += 1;
            }
        }
        let (crc, count) = feed.join().map_err(|_| io::Error::other("the gzip reader panicked"))??;
        if written != count {
            return Err(io::Error::other("a compression worker stopped early"));
        }
        out.write_all(&crc.sum().to_le_bytes())?;
        out.write_all(&crc.amount().to_le_bytes())?;
        Ok(())
    })?;
    Ok(out)
}

/// Reads up to `CHUNK` bytes; fewer only at the end of the input.
fn read_chunk(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(CHUNK);
    input.take(CHUNK as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

/// Raw deflate of one piece: primed with `dict`, ended with a sync flush, or with the
/// final block when `last`.
fn deflate(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 << 10));
        }
        let consumed = c.total_in() as usize;
        let status = c.compress_vec(&data[consumed..], &mut out, flush).map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        let room_left = out.capacity() - out.len() >= 1024;
        match status {
            Status::StreamEnd => return Ok(out),
            _ if !last && all_in && room_left => return Ok(out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a text-like pattern with a counter.
        (0..len).map(|i| b"cargo containerize "[i % 19].wrapping_add((i / 4099 % 7) as u8)).collect()
    }

    fn roundtrip(data: &[u8], threads: usize) -> Vec<u8> {
        let gz = compress(data, Vec::new(), 6, threads).unwrap();
        let mut back = Vec::new();
        GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        gz
    }

    #[test]
    fn round_trips_at_chunk_boundaries_and_in_between() {
        for len in [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12345] {
            roundtrip(&sample(len), 2);
        }
    }

    #[test]
    fn output_does_not_depend_on_the_thread_count() {
        let data = sample(3 * CHUNK + 777);
        let one = roundtrip(&data, 1);
        assert_eq!(one, roundtrip(&data, 2));
        assert_eq!(one, roundtrip(&data, 5));
        assert_eq!(&one[..10], &HEADER);
    }

    #[test]
    fn ratio_is_close_to_a_single_stream() {
        let data = sample(4 * CHUNK);
        let parallel = roundtrip(&data, 2).len();
        let mut single = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap().len();
        assert!(parallel as f64 <= single as f64 * 1.02 + 64.0, "{parallel} vs {single}");
    }
}
