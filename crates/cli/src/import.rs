//! `registry import DIR`: every `lastname_firstname.jpg|png` of a folder,
//! and every folder `Lastname Firstname/` of photos of one person (its best
//! photo), enrolled through the registry's API.
//!
//! A re-run skips what is already in: the registry records the SHA-256 of
//! each photo as uploaded, and the import asks for it before uploading.
//! Interrupted, no new file is started; the files under way finish, their
//! indexing awaited, so that a re-run finds them by their hash.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use registry::names::{name_from_slug, slug};
use registry::person::Status;
use registry::photo::sha256_hex;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::client::{Client, ClientError, RemotePerson};

/// One person to enrol: from a photo, or from a folder of photos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The photo file, or the person's folder.
    pub path: PathBuf,
    /// The names read from the file or folder name, or why they cannot be.
    pub names: Result<Names, String>,
    /// The photos to choose from: one for a file, a folder's in name order.
    pub photos: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub lastname: String,
    pub firstname: String,
}

impl Names {
    /// Whether `person` bears these names, as keys compare them (case,
    /// accents and punctuation aside).
    fn are_of(&self, person: &RemotePerson) -> bool {
        slug(&self.lastname) == slug(&person.lastname)
            && slug(&self.firstname) == slug(&person.firstname)
    }
}

/// The entries of `dir`, in name order. Hidden files are left out.
pub fn scan(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for path in sorted_children(dir)? {
        if path.is_dir() {
            let photos: Vec<PathBuf> = sorted_children(&path)?
                .into_iter()
                .filter(|p| p.is_file() && content_type(p).is_some())
                .collect();
            let folder = file_name(&path);
            let names = if photos.is_empty() {
                Err("the folder holds no .jpg, .jpeg or .png photo".to_owned())
            } else {
                folder_names(&folder)
            };
            entries.push(Entry {
                path,
                names,
                photos,
            });
        } else if content_type(&path).is_some() {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            entries.push(Entry {
                names: file_names(&stem),
                photos: vec![path.clone()],
                path,
            });
        } else {
            entries.push(Entry {
                path,
                names: Err("not a .jpg, .jpeg or .png file".to_owned()),
                photos: Vec::new(),
            });
        }
    }
    Ok(entries)
}

fn sorted_children(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut children = Vec::new();
    for child in std::fs::read_dir(dir)? {
        let path = child?.path();
        if !file_name(&path).starts_with('.') {
            children.push(path);
        }
    }
    children.sort();
    Ok(children)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The media type a photo is uploaded with, by its extension.
pub fn content_type(path: &Path) -> Option<&'static str> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        _ => None,
    }
}

/// `lastname_firstname`, as keys are named (`garcia-marquez_gabriel`:
/// García Márquez's slug gives `Garcia Marquez`).
pub fn file_names(stem: &str) -> Result<Names, String> {
    match stem.split('_').collect::<Vec<_>>()[..] {
        [last, first] if !name_from_slug(last).is_empty() && !name_from_slug(first).is_empty() => {
            Ok(Names {
                lastname: name_from_slug(last),
                firstname: name_from_slug(first),
            })
        }
        _ => Err(format!(
            "the file name {stem:?} is not lastname_firstname (one underscore, hyphens within names)"
        )),
    }
}

/// `Lastname Firstname` (one space), or `Lastname_Firstname` when a name
/// holds spaces; the names as written.
pub fn folder_names(folder: &str) -> Result<Names, String> {
    let separator = if folder.contains('_') { '_' } else { ' ' };
    match folder.split(separator).map(str::trim).collect::<Vec<_>>()[..] {
        [last, first] if !last.is_empty() && !first.is_empty() => Ok(Names {
            lastname: last.to_owned(),
            firstname: first.to_owned(),
        }),
        _ => Err(format!(
            "the folder name {folder:?} is not \"Lastname Firstname\" (or Lastname_Firstname when a name holds spaces)"
        )),
    }
}

/// What became of a file or folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Indexed,
    Rejected,
    Failed,
    /// The same photo is enrolled under another name: not enrolled again
    /// (unless asked), never counted as this name's.
    EnrolledAsOther,
    /// Not started: a re-run imports it.
    Interrupted,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// The file or folder.
    pub path: String,
    /// The photo enrolled (a folder's best).
    pub photo: Option<String>,
    pub lastname: Option<String>,
    pub firstname: Option<String>,
    pub sha256: Option<String>,
    pub outcome: Outcome,
    /// Found in the registry by its hash, so not uploaded again.
    pub already_in: bool,
    pub person_id: Option<u64>,
    /// Why it was rejected, failed or interrupted.
    pub reason: Option<String>,
    /// Another person the face matches, for an admin to resolve.
    pub possible_duplicate_of: Option<u64>,
    /// The person of another name whose photo has the same bytes, and
    /// their name ("Lastname, Firstname"): one column each in CSV.
    pub same_photo_as: Option<u64>,
    pub same_photo_as_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Files uploaded at once.
    pub concurrency: usize,
    /// How long to wait for a photo to be indexed.
    pub wait: Duration,
    /// How often to ask.
    pub poll: Duration,
    /// Enrols a file under its own name even when the same photo is
    /// enrolled under another (the registry then flags a possible duplicate).
    pub enrol_same_photo: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: 4,
            wait: Duration::from_secs(120),
            poll: Duration::from_millis(250),
            enrol_same_photo: false,
        }
    }
}

/// Imports every entry, `options.concurrency` at a time, telling `done`
/// of each as it ends; once `stop` is cancelled no new entry starts. The
/// report lists the entries in order.
pub async fn import(
    client: &Client,
    entries: Vec<Entry>,
    options: &Options,
    stop: &CancellationToken,
    done: impl Fn(&FileReport),
) -> Vec<FileReport> {
    let done = &done;
    let mut reports: Vec<(usize, FileReport)> =
        futures::stream::iter(entries.into_iter().enumerate())
            .map(|(index, entry)| async move {
                let report = if stop.is_cancelled() {
                    Importing::new(&entry).end(Outcome::Interrupted, "not started")
                } else {
                    import_one(client, &entry, options).await
                };
                done(&report);
                (index, report)
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
    reports.sort_by_key(|(index, _)| *index);
    reports.into_iter().map(|(_, report)| report).collect()
}

/// A report being filled in as the entry is imported.
struct Importing(FileReport);

impl Importing {
    fn new(entry: &Entry) -> Self {
        let names = entry.names.as_ref().ok();
        Self(FileReport {
            path: entry.path.display().to_string(),
            photo: None,
            lastname: names.map(|n| n.lastname.clone()),
            firstname: names.map(|n| n.firstname.clone()),
            sha256: None,
            outcome: Outcome::Failed,
            already_in: false,
            person_id: None,
            reason: None,
            possible_duplicate_of: None,
            same_photo_as: None,
            same_photo_as_name: None,
        })
    }

    fn end(mut self, outcome: Outcome, reason: impl Into<String>) -> FileReport {
        self.0.outcome = outcome;
        self.0.reason = Some(reason.into());
        self.0
    }

    /// The person as recorded: indexed, or rejected with the registry's reason.
    fn recorded(mut self, person: &RemotePerson, already_in: bool) -> FileReport {
        self.0.person_id = Some(person.id);
        self.0.already_in = already_in;
        self.0.possible_duplicate_of = person.possible_duplicate.map(|d| d.person_id.0);
        if person.status == Status::Indexed {
            self.0.outcome = Outcome::Indexed;
            self.0
        } else {
            let reason = person
                .status_reason
                .clone()
                .unwrap_or_else(|| format!("recorded {}", person.status.as_str()));
            self.end(Outcome::Rejected, reason)
        }
    }
}

/// A photo read from disk.
struct Photo {
    path: PathBuf,
    bytes: Vec<u8>,
    content_type: &'static str,
    sha256: String,
}

async fn read_photo(path: &Path) -> Result<Photo, String> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
    Ok(Photo {
        path: path.to_owned(),
        content_type: content_type(path).unwrap_or("application/octet-stream"),
        sha256: sha256_hex(&bytes),
        bytes,
    })
}

async fn import_one(client: &Client, entry: &Entry, options: &Options) -> FileReport {
    let report = Importing::new(entry);
    let names = match &entry.names {
        Ok(names) => names,
        Err(reason) => return report.end(Outcome::Rejected, reason.clone()),
    };
    let mut photos = Vec::with_capacity(entry.photos.len());
    for path in &entry.photos {
        match read_photo(path).await {
            Ok(photo) => photos.push(photo),
            Err(reason) => return report.end(Outcome::Failed, reason),
        }
    }
    enrol(client, names, photos, report, options).await
}

/// The photo recorded already, or the best one enrolled.
async fn enrol(
    client: &Client,
    names: &Names,
    photos: Vec<Photo>,
    mut report: Importing,
    options: &Options,
) -> FileReport {
    let failed =
        |report: Importing, error: ClientError| report.end(Outcome::Failed, error.to_string());
    for photo in &photos {
        let found = match client.people_with_photo(&photo.sha256).await {
            Ok(found) => found,
            Err(error) => return failed(report, error),
        };
        // Erased people are gone; a person found is indexed or rejected.
        // Under this name, the file is in already (a re-run resumes); under
        // another, it is that person's photo, not this name's.
        let (same_name, other_names): (Vec<&RemotePerson>, Vec<&RemotePerson>) = found
            .iter()
            .filter(|p| p.status != Status::Pending)
            .partition(|p| names.are_of(p));
        if let Some(person) = same_name.first() {
            report.0.photo = Some(photo.path.display().to_string());
            report.0.sha256 = Some(photo.sha256.clone());
            return report.recorded(person, true);
        }
        if let Some(other) = other_names.first()
            && !options.enrol_same_photo
        {
            report.0.photo = Some(photo.path.display().to_string());
            report.0.sha256 = Some(photo.sha256.clone());
            report.0.same_photo_as = Some(other.id);
            report.0.same_photo_as_name = Some(format!("{}, {}", other.lastname, other.firstname));
            let reason = format!(
                "the same photo is enrolled as person {} ({}, {}); not enrolled again \
                 (--enrol-same-photo enrols it under this name too)",
                other.id, other.lastname, other.firstname
            );
            return report.end(Outcome::EnrolledAsOther, reason);
        }
    }
    let photo = match best_photo(client, photos).await {
        Ok(photo) => photo,
        Err(error) => return failed(report, error),
    };
    report.0.photo = Some(photo.path.display().to_string());
    report.0.sha256 = Some(photo.sha256.clone());

    let ticket = match client
        .request_upload(
            &names.lastname,
            &names.firstname,
            photo.content_type,
            photo.bytes.len(),
        )
        .await
    {
        Ok(ticket) => ticket,
        Err(ClientError::Refused { message, .. }) => {
            return report.end(Outcome::Rejected, message);
        }
        Err(error) => return failed(report, error),
    };
    report.0.person_id = Some(ticket.person_id);
    if let Err(error) = client.upload(&ticket, &photo.bytes).await {
        return failed(report, error);
    }

    // Indexed or rejected by the indexer, in a moment.
    let started = Instant::now();
    loop {
        match client.person(ticket.person_id).await {
            Ok(person) if person.status != Status::Pending => {
                return report.recorded(&person, false);
            }
            Ok(_) => {}
            Err(error) => return failed(report, error),
        }
        if started.elapsed() >= options.wait {
            let reason = format!(
                "uploaded, still pending after {} s; run the import again to see its outcome",
                options.wait.as_secs()
            );
            return report.end(Outcome::Failed, reason);
        }
        tokio::time::sleep(options.poll).await;
    }
}

/// Of a folder's photos, the one whose single face is the largest and
/// sharpest, as the registry's search finds it: face area in pixels
/// times sharpness (0–100). With no photo of exactly one face, the first,
/// so that the registry records why it is refused.
async fn best_photo(client: &Client, photos: Vec<Photo>) -> Result<Photo, ClientError> {
    if photos.len() < 2 {
        return photos
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::BadAnswer("no photo".into()));
    }
    let mut scores = Vec::with_capacity(photos.len());
    for photo in &photos {
        let faces = client.faces_in(&photo.bytes, photo.content_type).await?;
        scores.push(match faces.as_deref() {
            Some([face]) => pixel_size(&photo.bytes).map(|(width, height)| {
                let area = f64::from(face.face_box.width)
                    * f64::from(width)
                    * f64::from(face.face_box.height)
                    * f64::from(height);
                area * f64::from(face.sharpness.unwrap_or(50.0))
            }),
            _ => None,
        });
    }
    let best = scores
        .iter()
        .enumerate()
        .filter_map(|(index, score)| score.map(|s| (index, s)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(index, _)| index);
    Ok(photos
        .into_iter()
        .nth(best)
        .expect("the best is one of the photos"))
}

/// Width and height in pixels, from the image's header.
fn pixel_size(bytes: &[u8]) -> Option<(u32, u32)> {
    image::io::Reader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Counts of each outcome, and of those found already in.
pub fn counts(reports: &[FileReport]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::from([
        ("indexed", 0),
        ("rejected", 0),
        ("failed", 0),
        ("interrupted", 0),
        ("enrolledAsOther", 0),
        ("alreadyIn", 0),
        ("possibleDuplicates", 0),
    ]);
    for report in reports {
        let outcome = match report.outcome {
            Outcome::Indexed => "indexed",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::EnrolledAsOther => "enrolledAsOther",
        };
        *counts.entry(outcome).or_default() += 1;
        if report.already_in {
            *counts.entry("alreadyIn").or_default() += 1;
        }
        if report.possible_duplicate_of.is_some() {
            *counts.entry("possibleDuplicates").or_default() += 1;
        }
    }
    counts
}

/// The report as JSON: the counts, then every file.
pub fn to_json(reports: &[FileReport]) -> serde_json::Value {
    serde_json::json!({ "counts": counts(reports), "files": reports })
}

/// The report as CSV: one row per file, with a header.
pub fn to_csv(reports: &[FileReport]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for report in reports {
        writer.serialize(report)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(last: &str, first: &str) -> Result<Names, String> {
        Ok(Names {
            lastname: last.into(),
            firstname: first.into(),
        })
    }

    #[test]
    fn file_names_follow_the_keys_convention() {
        assert_eq!(file_names("obama_barack"), names("Obama", "Barack"));
        assert_eq!(
            file_names("garcia-marquez_gabriel"),
            names("Garcia Marquez", "Gabriel")
        );
        for bad in ["obama", "obama_barack_hussein", "_barack", "obama_", "--_x"] {
            let error = file_names(bad).unwrap_err();
            assert!(error.contains("lastname_firstname"), "{bad}: {error}");
        }
    }

    #[test]
    fn folder_names_are_taken_as_written() {
        assert_eq!(folder_names("Lovelace Ada"), names("Lovelace", "Ada"));
        assert_eq!(
            folder_names("García Márquez_Gabriel José"),
            names("García Márquez", "Gabriel José")
        );
        for bad in ["Lovelace", "Van Der Berg Anna", "a_b_c", " Ada"] {
            let error = folder_names(bad).unwrap_err();
            assert!(error.contains("Lastname Firstname"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_folder_is_scanned_into_people_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "obama_barack.JPG",
            "notes.txt",
            ".DS_Store",
            "biden_joe.png",
        ] {
            std::fs::write(root.join(file), b"x").unwrap();
        }
        std::fs::create_dir(root.join("Lovelace Ada")).unwrap();
        std::fs::write(root.join("Lovelace Ada/b.jpeg"), b"x").unwrap();
        std::fs::write(root.join("Lovelace Ada/a.jpg"), b"x").unwrap();
        std::fs::write(root.join("Lovelace Ada/readme.md"), b"x").unwrap();
        std::fs::create_dir(root.join("Empty Folder")).unwrap();

        let entries = scan(root).unwrap();
        let shown: Vec<(String, Result<Names, String>, usize)> = entries
            .iter()
            .map(|e| (file_name(&e.path), e.names.clone(), e.photos.len()))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "Empty Folder".into(),
                    Err("the folder holds no .jpg, .jpeg or .png photo".into()),
                    0
                ),
                ("Lovelace Ada".into(), names("Lovelace", "Ada"), 2),
                ("biden_joe.png".into(), names("Biden", "Joe"), 1),
                (
                    "notes.txt".into(),
                    Err("not a .jpg, .jpeg or .png file".into()),
                    0
                ),
                ("obama_barack.JPG".into(), names("Obama", "Barack"), 1),
            ]
        );
        let ada = &entries[1].photos;
        assert_eq!(ada[0], root.join("Lovelace Ada/a.jpg"));
    }

    #[test]
    fn the_report_counts_each_outcome_and_reads_as_csv() {
        let report = |outcome, already_in, duplicate| FileReport {
            path: "dir/a_b.jpg".into(),
            photo: Some("dir/a_b.jpg".into()),
            lastname: Some("A".into()),
            firstname: Some("B".into()),
            sha256: Some("ab".repeat(32)),
            outcome,
            already_in,
            person_id: Some(7),
            reason: (outcome != Outcome::Indexed).then(|| "No face, \"none\"".into()),
            possible_duplicate_of: duplicate,
            same_photo_as: (outcome == Outcome::EnrolledAsOther).then_some(134),
            same_photo_as_name: (outcome == Outcome::EnrolledAsOther)
                .then(|| "Curie, Pierre".into()),
        };
        let reports = [
            report(Outcome::Indexed, false, Some(3)),
            report(Outcome::Indexed, true, None),
            report(Outcome::Rejected, false, None),
            report(Outcome::Failed, false, None),
            report(Outcome::EnrolledAsOther, false, None),
        ];
        let json = to_json(&reports);
        assert_eq!(
            json["counts"],
            serde_json::json!({
                "indexed": 2, "rejected": 1, "failed": 1, "interrupted": 0,
                "enrolledAsOther": 1, "alreadyIn": 1, "possibleDuplicates": 1,
            })
        );
        assert_eq!(json["files"][0]["possibleDuplicateOf"], 3);
        let csv = to_csv(&reports).unwrap();
        let mut rows = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = rows.headers().unwrap().iter().map(Into::into).collect();
        assert_eq!(
            header,
            [
                "path",
                "photo",
                "lastname",
                "firstname",
                "sha256",
                "outcome",
                "alreadyIn",
                "personId",
                "reason",
                "possibleDuplicateOf",
                "samePhotoAs",
                "samePhotoAsName"
            ]
        );
        let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 5);
        assert_eq!(&records[2][5], "rejected");
        assert_eq!(&records[2][8], "No face, \"none\"");
        assert_eq!(
            (&records[4][5], &records[4][10], &records[4][11]),
            ("enrolledAsOther", "134", "Curie, Pierre")
        );
    }
}
