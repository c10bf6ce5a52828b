//! The encrypting half of the pipeline: [`Sealer`] cuts the plaintext into chunks on the
//! calling thread and a second thread seals and writes them.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};

use crate::BackupError;
use crate::format::{ChunkCipher, TAG_LEN};

/// Chunks in flight between the two threads.
const QUEUE_CHUNKS: usize = 4;

enum Msg {
    Chunk(Vec<u8>),
    Final(Vec<u8>),
}

/// How the sealing thread ended when it did not write the final chunk.
pub(crate) enum SealEnd {
    /// Writing failed.
    Failed(BackupError),
    /// The plaintext side went away without finishing.
    Abandoned,
}

pub(crate) type SealWorker<W> = JoinHandle<Result<W, SealEnd>>;

/// A `Write` of plaintext; every full chunk goes to the sealing thread.
pub(crate) struct Sealer {
    buf: Vec<u8>,
    chunk_size: usize,
    tx: Option<SyncSender<Msg>>,
    spare: Receiver<Vec<u8>>,
}

impl Sealer {
    /// Starts the sealing thread, which writes the chunks to `out` (the header must already
    /// be there).
    pub fn start<W: Write + Send + 'static>(
        out: W,
        cipher: ChunkCipher,
        chunk_size: usize,
    ) -> Result<(Sealer, SealWorker<W>), BackupError> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_CHUNKS);
        let (spare_tx, spare) = mpsc::channel();
        let worker = thread::Builder::new()
            .name("aerie-backup-seal".into())
            .spawn(move || seal_chunks(out, cipher, rx, spare_tx))
            .map_err(|e| BackupError::io("cannot start the backup encryption thread", e))?;
        let sealer = Sealer {
            buf: Vec::with_capacity(chunk_size + TAG_LEN),
            chunk_size,
            tx: Some(tx),
            spare,
        };
        Ok((sealer, worker))
    }

    fn send(&mut self, last: bool) -> io::Result<()> {
        let next = if last {
            Vec::new()
        } else {
            self.spare
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(self.chunk_size + TAG_LEN))
        };
        let buf = std::mem::replace(&mut self.buf, next);
        let msg = if last {
            Msg::Final(buf)
        } else {
            Msg::Chunk(buf)
        };
        let tx = self.tx.as_ref().ok_or_else(stopped)?;
        tx.send(msg).map_err(|_| stopped())
    }

    /// Sends the last (short, possibly empty) chunk. The sealing thread then flushes and
    /// ends; join it for the result.
    pub fn finish(mut self) -> io::Result<()> {
        self.send(true)?;
        self.tx = None;
        Ok(())
    }
}

fn stopped() -> io::Error {
    io::Error::other("the backup encryption thread stopped")
}

impl Write for Sealer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.chunk_size - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.chunk_size {
            self.send(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // A chunk boundary is not a flush point: only full chunks and the final one exist.
        Ok(())
    }
}

fn seal_chunks<W: Write>(
    mut out: W,
    cipher: ChunkCipher,
    rx: Receiver<Msg>,
    spare: Sender<Vec<u8>>,
) -> Result<W, SealEnd> {
    let fail = |e| SealEnd::Failed(BackupError::io("cannot write the backup", e));
    for index in 0u64.. {
        let (mut buf, last) = match rx.recv() {
            Ok(Msg::Chunk(buf)) => (buf, false),
            Ok(Msg::Final(buf)) => (buf, true),
            Err(_) => return Err(SealEnd::Abandoned),
        };
        cipher.seal(index, last, &mut buf);
        let len = u32::try_from(buf.len()).expect("chunks are at most 16 MiB");
        out.write_all(&len.to_be_bytes()).map_err(fail)?;
        out.write_all(&buf).map_err(fail)?;
        if last {
            out.flush().map_err(fail)?;
            return Ok(out);
        }
        buf.clear();
        let _ = spare.send(buf);
    }
    unreachable!("2^64 chunks")
}
