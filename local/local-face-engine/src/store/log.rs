//! `faces.log`: one JSON record a line, appended and synced; read back at
//! open (a torn last line cut off), rewritten when dead records pile up.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EMBEDDING_LEN, FaceRecord, FaceSet, StoreError, io_error};

/// One line of `faces.log`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum LogRecord {
    Add {
        #[serde(flatten)]
        face: FaceRecord,
        /// Little-endian f32s, base64.
        embedding: String,
    },
    Delete {
        face_id: Uuid,
    },
}

pub(super) fn encode_embedding(embedding: &[f32; EMBEDDING_LEN]) -> String {
    let bytes: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

fn decode_embedding(text: &str) -> Result<[f32; EMBEDDING_LEN], String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("embedding is not base64: {e}"))?;
    if bytes.len() != EMBEDDING_LEN * 4 {
        return Err(format!(
            "embedding has {} bytes, expected {}",
            bytes.len(),
            EMBEDDING_LEN * 4
        ));
    }
    let mut embedding = [0f32; EMBEDDING_LEN];
    for (value, chunk) in embedding.iter_mut().zip(bytes.chunks_exact(4)) {
        *value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Ok(embedding)
}

pub(super) struct FaceLog {
    pub(super) file: File,
    pub(super) path: PathBuf,
    /// Delete records plus overwritten adds: lines that no longer describe a live face.
    pub(super) dead_records: usize,
}

pub(super) fn append(log: &mut FaceLog, lines: &str) -> Result<(), StoreError> {
    let context = || format!("appending to {}", log.path.display());
    log.file
        .write_all(lines.as_bytes())
        .map_err(io_error(context()))?;
    log.file.sync_data().map_err(io_error(context()))
}

/// Rewrites the log with only the live faces.
pub(super) fn compact(log: &mut FaceLog, set: &FaceSet) -> Result<(), StoreError> {
    let temp = log.path.with_extension("log.compacting");
    let context = || format!("compacting {}", log.path.display());
    {
        let file = File::create(&temp).map_err(io_error(context()))?;
        let mut writer = BufWriter::new(file);
        for (slot, record) in set.records.iter().enumerate() {
            let mut embedding = [0f32; EMBEDDING_LEN];
            embedding.copy_from_slice(set.embedding(slot));
            let line = LogRecord::Add {
                face: record.clone(),
                embedding: encode_embedding(&embedding),
            };
            serde_json::to_writer(&mut writer, &line).map_err(|e| io_error(context())(e.into()))?;
            writer.write_all(b"\n").map_err(io_error(context()))?;
        }
        let file = writer
            .into_inner()
            .map_err(|e| io_error(context())(e.into_error()))?;
        file.sync_all().map_err(io_error(context()))?;
    }
    fs::rename(&temp, &log.path).map_err(io_error(context()))?;
    sync_parent(&log.path)?;
    log.file = OpenOptions::new()
        .append(true)
        .open(&log.path)
        .map_err(io_error(context()))?;
    log.dead_records = 0;
    Ok(())
}

pub(super) fn sync_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(format!("syncing {}", parent.display())))?;
    }
    Ok(())
}

/// Reads a collection's log, cutting off a torn last line.
pub(super) fn load_faces(path: &Path) -> Result<(FaceSet, usize), StoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error(format!("opening {}", path.display())))?;
    let mut reader = BufReader::new(&mut file);
    let mut set = FaceSet::default();
    let mut dead = 0;
    let mut good_len: u64 = 0;
    let mut line = String::new();
    let mut number = 0;
    let mut torn = false;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(io_error(format!("reading {}", path.display())))?;
        if read == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with('\n');
        let parsed = serde_json::from_str::<LogRecord>(line.trim_end()).map_err(|e| e.to_string());
        let record = match (parsed, complete) {
            (Ok(record), true) => record,
            // Only the very last line can be torn by a crash mid-append.
            (_, false) => {
                torn = true;
                break;
            }
            (Err(reason), true) => {
                return Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    line: number,
                    reason,
                });
            }
        };
        match record {
            LogRecord::Add { face, embedding } => {
                let embedding =
                    decode_embedding(&embedding).map_err(|reason| StoreError::Corrupt {
                        path: path.to_owned(),
                        line: number,
                        reason,
                    })?;
                if set.slots.contains_key(&face.face_id) {
                    dead += 1;
                }
                set.insert(face, &embedding);
            }
            LogRecord::Delete { face_id } => {
                if set.remove(&face_id) {
                    dead += 2;
                } else {
                    dead += 1;
                }
            }
        }
        good_len += read as u64;
    }
    drop(reader);
    if torn {
        tracing::warn!(path = %path.display(), line = number, "cutting off a torn last record");
        file.set_len(good_len)
            .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()))
            .and_then(|()| file.sync_all())
            .map_err(io_error(format!("repairing {}", path.display())))?;
    }
    Ok((set, dead))
}
