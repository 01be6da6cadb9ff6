//! A layer file being written while another thread reads it: the writer reports how many
//! bytes reached the file, and when it is complete, so an upload can follow compression.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Mutex;
use tokio::sync::watch;

/// How far the file has been written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) bytes: u64,
    pub(crate) done: bool,
    /// Writing stopped short, or never started (the layer was cached): nothing to read.
    pub(crate) failed: bool,
}

/// The writer's side: a read handle on the file, and the byte count as it grows.
/// The writer calls [`Growth::end`] when it is finished, whatever happened.
pub(crate) struct Growth {
    file: Mutex<Option<File>>,
    tx: watch::Sender<Written>,
}

impl Growth {
    pub(crate) fn new() -> (Growth, watch::Receiver<Written>) {
        let (tx, rx) = watch::channel(Written::default());
        (Growth { file: Mutex::new(None), tx }, rx)
    }

    /// Offers a read handle on the file about to be written.
    pub(crate) fn start(&self, reader: File) {
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(reader);
        self.tx.send_replace(Written::default());
    }

    /// Takes the read handle, once the writer has offered it.
    pub(crate) fn take_reader(&self) -> Option<File> {
        self.file.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn advance(&self, bytes: u64, done: bool) {
        self.tx.send_replace(Written { bytes, done, failed: false });
    }

    /// Wraps the file's writer so that every write that reaches it is reported.
    pub(crate) fn writer<W: Write>(&self, inner: W) -> GrowthWriter<'_, W> {
        GrowthWriter { inner, written: 0, growth: self }
    }

    /// Ends the watch: a reader still waiting for a file that is not complete stops, and
    /// treats it as failed.
    pub(crate) fn end(&self) {
        self.tx.send_modify(|w| w.failed = !w.done);
    }
}

/// See [`Growth::writer`].
pub(crate) struct GrowthWriter<'g, W> {
    inner: W,
    written: u64,
    growth: &'g Growth,
}

impl<W: Write> GrowthWriter<'_, W> {
    /// Reports the file complete; call once everything is flushed to it.
    pub(crate) fn finish(self) -> W {
        self.growth.advance(self.written, true);
        self.inner
    }
}

impl<W: Write> Write for GrowthWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        self.growth.advance(self.written, false);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
