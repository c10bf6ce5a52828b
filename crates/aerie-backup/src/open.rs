//! The decrypting half of the pipeline: a second thread reads, opens and gunzips the
//! chunks, [`Plaintext`] hands the tar stream to the calling thread as a `BufRead`.
//!
//! [`Plaintext`] reports end of input only after the final chunk has been authenticated and
//! the file has been seen to end right after it, so a reader that reaches EOF has read the
//! whole, unaltered backup.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};

use crate::BackupError;
use flate2::bufread::GzDecoder;

use crate::format::{ChunkCipher, TAG_LEN, read_full};

const QUEUE_CHUNKS: usize = 4;

enum Msg {
    Data(Vec<u8>),
    End,
}

/// How the opening thread ended when it did not reach a verified end.
pub(crate) enum OpenEnd {
    Failed(BackupError),
    /// The plaintext side went away first.
    Abandoned,
}

pub(crate) type OpenWorker = JoinHandle<Result<(), OpenEnd>>;

/// The decrypted stream.
pub(crate) struct Plaintext {
    rx: Receiver<Msg>,
    spare: Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    ended: bool,
}

/// Starts the opening thread on `input`, positioned just after the header.
pub(crate) fn start<R: Read + Send + 'static>(
    input: R,
    cipher: ChunkCipher,
    chunk_size: usize,
) -> Result<(Plaintext, OpenWorker), BackupError> {
    let (tx, rx) = mpsc::sync_channel(QUEUE_CHUNKS);
    let (spare, spare_rx) = mpsc::channel();
    let worker = thread::Builder::new()
        .name("aerie-backup-open".into())
        .spawn(move || open_chunks(input, cipher, chunk_size, tx, spare_rx))
        .map_err(|e| BackupError::io("cannot start the backup decryption thread", e))?;
    let plaintext = Plaintext {
        rx,
        spare,
        current: Vec::new(),
        pos: 0,
        ended: false,
    };
    Ok((plaintext, worker))
}

impl Read for Plaintext {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Plaintext {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.current.len() && !self.ended {
            match self.rx.recv() {
                Ok(Msg::Data(next)) => {
                    let used = std::mem::replace(&mut self.current, next);
                    let _ = self.spare.send(used);
                    self.pos = 0;
                }
                Ok(Msg::End) => self.ended = true,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the backup decryption thread stopped",
                    ));
                }
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.current.len());
    }
}

/// Decompressed bytes per message to the calling thread.
const OUT_BUF: usize = 1024 * 1024;

fn open_chunks<R: Read>(
    input: R,
    cipher: ChunkCipher,
    chunk_size: usize,
    tx: SyncSender<Msg>,
    spare: Receiver<Vec<u8>>,
) -> Result<(), OpenEnd> {
    let chunks = Chunks {
        input,
        cipher,
        full_len: chunk_size + TAG_LEN,
        index: 0,
        buf: Vec::with_capacity(chunk_size + TAG_LEN),
        pos: 0,
        done: false,
        error: None,
    };
    let mut gz = GzDecoder::new(chunks);
    loop {
        let mut buf = spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(OUT_BUF));
        buf.resize(OUT_BUF, 0);
        let n = read_full(&mut gz, &mut buf).map_err(|e| gz.get_mut().failure(e))?;
        buf.truncate(n);
        if n > 0 && tx.send(Msg::Data(buf)).is_err() {
            return Err(OpenEnd::Abandoned);
        }
        if n < OUT_BUF {
            break;
        }
    }
    // The gzip member ended and its CRC matched; the chunks must end with it.
    let mut chunks = gz.into_inner();
    let more = match chunks.fill_buf() {
        Ok(rest) => !rest.is_empty(),
        Err(e) => return Err(chunks.failure(e)),
    };
    if more {
        return Err(OpenEnd::Failed(BackupError::ManifestMismatch(
            "there is data after the end of the compressed archive".into(),
        )));
    }
    tx.send(Msg::End).map_err(|_| OpenEnd::Abandoned)
}

/// The decrypted chunks as a `BufRead`, for the gzip decoder; ends only at a verified final
/// chunk followed by the end of the file.
struct Chunks<R> {
    input: R,
    cipher: ChunkCipher,
    full_len: usize,
    index: u64,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    /// Why reading stopped, beyond what an `io::Error` can carry.
    error: Option<BackupError>,
}

impl<R: Read> Chunks<R> {
    fn failure(&mut self, e: io::Error) -> OpenEnd {
        OpenEnd::Failed(
            self.error
                .take()
                .unwrap_or_else(|| BackupError::io("cannot decompress the backup", e)),
        )
    }

    fn next_chunk(&mut self) -> Result<(), BackupError> {
        let read_error = |e| BackupError::io("cannot read the backup", e);
        let index = self.index;
        let mut len = [0u8; 4];
        if read_full(&mut self.input, &mut len).map_err(read_error)? < len.len() {
            return Err(BackupError::Truncated);
        }
        let len = u32::from_be_bytes(len) as usize;
        if !(TAG_LEN..=self.full_len).contains(&len) {
            return Err(BackupError::Damaged { chunk: index });
        }
        // Only the final chunk is short: the writer sends every full chunk as non-final.
        let last = len < self.full_len;
        self.buf.resize(len, 0);
        self.pos = 0;
        if read_full(&mut self.input, &mut self.buf).map_err(read_error)? < len {
            self.buf.clear();
            return Err(BackupError::Truncated);
        }
        if let Err(e) = self.cipher.open(index, last, &mut self.buf) {
            self.buf.clear();
            return Err(e);
        }
        if last {
            let mut probe = [0u8; 1];
            if read_full(&mut self.input, &mut probe).map_err(read_error)? != 0 {
                self.buf.clear();
                return Err(BackupError::TrailingData);
            }
            self.done = true;
        }
        self.index += 1;
        Ok(())
    }
}

impl<R: Read> Read for Chunks<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Chunks<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.buf.len() && !self.done {
            if self.error.is_some() {
                return Err(io::Error::other("the backup cannot be read further"));
            }
            if let Err(e) = self.next_chunk() {
                let text = e.to_string();
                self.error = Some(e);
                return Err(io::Error::other(text));
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}
