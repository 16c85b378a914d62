//! Reconcile: the table, the collection and the bucket compared, and what
//! is safely repairable repaired. Run on a schedule, it is the registry's
//! net under every path that can leave something behind (an event lost, a
//! run that crashed between indexing a face and recording it, a deletion
//! that failed, an erasure interrupted).
//!
//! It never acts on what may be in flight: a face or photo is acted on only
//! once it has been out of place for the grace period (which is longer than
//! an indexing run), and a row only once it is unchanged for that long.
//! Every step is idempotent, so runs may overlap each other and the indexer.
//! It deletes a photo only to finish an erasure that was asked for.

use std::time::Instant;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditContext;
use crate::erasure::{Eraser, ErasureError, ErasureMark, key_digest};
use crate::indexing::sweep_retired_faces;
use crate::key::ObjectKey;
use crate::person::Status;
use crate::ports::{
    Checkpoint, FaceIndex, KeyedPerson, ListedPhoto, PersonStore, PhotoPage, PhotoStore, PortError,
    ReconcileStore, Scan, SightingKind,
};

/// The status reason of a person whose upload URL expired without a photo.
pub const NO_PHOTO_ARRIVED: &str = "no photo arrived before the upload URL expired";
/// The status reason of a person whose photo left the bucket outside the registry.
pub const PHOTO_GONE: &str = "the photo is no longer in the bucket";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// How long something stays out of place before reconcile acts on it.
    /// Longer than the indexer's timeout, so that no face being recorded
    /// and no photo being indexed is touched.
    pub grace: Duration,
    /// How long an upload URL can be used: a person is pending at least
    /// that long (and the grace) before their photo counts as never coming.
    pub upload_url_ttl: Duration,
    /// Faces per ListFaces page, photos per bucket listing page.
    pub page_size: u32,
    /// How long after an erasure an event of the erased photo can still
    /// arrive (the indexer's dead-letter retention): a plain key's digest
    /// is kept that long, then forgotten.
    pub late_events_for: Duration,
}

/// What one run found out of place, and what it repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// Replaced or discarded faces deleted from the collection.
    pub retired_faces_deleted: u64,
    /// Erasures asked for and not finished, and those this run finished.
    pub unfinished_erasures_found: u64,
    pub erasures_finished: u64,
    /// Photos' moves to the key of corrected names cut short, and those
    /// this run finished (the old key emptied).
    pub unfinished_moves_found: u64,
    pub moves_finished: u64,
    pub faces_checked: u64,
    /// Faces of the collection that no person records.
    pub orphan_faces_found: u64,
    /// Of those, the ones out of place for the grace period, deleted.
    pub orphan_faces_deleted: u64,
    pub photos_checked: u64,
    /// Photos no outcome was recorded for (no person, or one still pending
    /// after their upload URL expired).
    pub unindexed_photos_found: u64,
    /// Of those, the ones out of place for the grace period, written again
    /// so that the indexer is notified of them once more.
    pub photos_redriven: u64,
    /// Versions of an erased person's photo, deleted.
    pub erased_photo_versions_deleted: u64,
    /// People pending after their upload URL expired, with no photo:
    /// recorded as rejected ([`NO_PHOTO_ARRIVED`]).
    pub pending_expired: u64,
    /// People with a face whose photo is gone: recorded as rejected
    /// ([`PHOTO_GONE`]), their face retired.
    pub photos_gone: u64,
    /// Plain keys' digests of finished erasures forgotten.
    pub erased_key_digests_forgotten: u64,
    /// Whether the scans reached the end of the collection and of the
    /// bucket in this run (otherwise the next run goes on from here).
    pub faces_pass_complete: bool,
    pub photos_pass_complete: bool,
}

impl ReconcileReport {
    /// Everything found out of place: zero when the three places agree.
    pub fn drift(&self) -> u64 {
        self.unfinished_erasures_found
            + self.unfinished_moves_found
            + self.orphan_faces_found
            + self.unindexed_photos_found
            + self.erased_photo_versions_deleted
            + self.pending_expired
            + self.photos_gone
    }

    /// Everything repaired.
    pub fn repaired(&self) -> u64 {
        self.retired_faces_deleted
            + self.erasures_finished
            + self.moves_finished
            + self.orphan_faces_deleted
            + self.photos_redriven
            + self.erased_photo_versions_deleted
            + self.pending_expired
            + self.photos_gone
    }
}

/// What a run of a collection rebuild did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    pub photos_checked: u64,
    /// People's photos written again, each to be indexed again.
    pub photos_redriven: u64,
    /// Whether the rebuild reached the end of the bucket (otherwise the
    /// next rebuild run goes on from here).
    pub complete: bool,
}

/// What a photo of the bucket is, against the person its key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoState {
    InPlace,
    /// No outcome is recorded for it: it is to be indexed (again).
    Unindexed,
    /// An erased person's photo, left behind.
    Erased,
    /// Its key is not a photo key: the indexer ignores it, and so does reconcile.
    Foreign,
}

pub fn photo_state(
    photo: &ListedPhoto,
    person: Option<&KeyedPerson>,
    mark: Option<&ErasureMark>,
    now: DateTime<Utc>,
    settings: &ReconcileSettings,
) -> PhotoState {
    if ObjectKey::parse(&photo.key).is_err() {
        return PhotoState::Foreign;
    }
    match person {
        // The erasure removes it.
        Some(person) if person.erasing => PhotoState::InPlace,
        // The upload URL expired long enough ago that no new photo is on
        // its way: the photo there is the one never recorded.
        Some(person)
            if person.status == Status::Pending
                && person.updated_at <= now - settings.upload_url_ttl - settings.grace =>
        {
            PhotoState::Unindexed
        }
        Some(_) => PhotoState::InPlace,
        None if mark
            .is_some_and(|mark| mark.covers(&photo.key, photo.last_modified.unwrap_or(now))) =>
        {
            PhotoState::Erased
        }
        None => PhotoState::Unindexed,
    }
}

/// What is to be done about a person whose photo is not in the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingPhoto {
    /// Nothing, or not yet (an upload may still come, a change is recent).
    Wait,
    /// Pending with no face, and the upload URL long expired.
    Expire,
    /// The person has a face, and its photo is gone.
    Gone,
}

pub fn missing_photo(
    person: &KeyedPerson,
    now: DateTime<Utc>,
    settings: &ReconcileSettings,
) -> MissingPhoto {
    if person.erasing {
        MissingPhoto::Wait
    } else if person.has_face {
        if person.updated_at <= now - settings.grace {
            MissingPhoto::Gone
        } else {
            MissingPhoto::Wait
        }
    } else if person.status == Status::Pending
        && person.updated_at <= now - settings.upload_url_ttl - settings.grace
    {
        MissingPhoto::Expire
    } else {
        MissingPhoto::Wait
    }
}

/// Whether something first seen out of place at `first_seen` has stayed so
/// for the grace period.
pub fn due(first_seen: DateTime<Utc>, now: DateTime<Utc>, settings: &ReconcileSettings) -> bool {
    first_seen <= now - settings.grace
}

/// The keys a page of the bucket stands for end at its last (and the
/// bucket's end when it is the last page, `None`).
fn last_key_of(page: &PhotoPage) -> Result<Option<String>, PortError> {
    match (page.truncated, page.photos.last()) {
        (true, Some(last)) => Ok(Some(last.key.clone())),
        (true, None) => Err(PortError::Transient(
            "S3: a truncated listing with no photos".into(),
        )),
        (false, _) => Ok(None),
    }
}

/// One step of a scan of the bucket: the photos and the people whose keys
/// fall after the scan's position and up to `through` (the end of the
/// bucket and of the table when `None`).
struct BucketStep {
    photos: Vec<ListedPhoto>,
    people: Vec<KeyedPerson>,
    through: Option<String>,
}

impl BucketStep {
    /// A page of photos and the people of its range, at most `page_size`
    /// of each. When the range holds more people than that (a bucket
    /// missing many photos, or the last page's open end), the step ends at
    /// the last person read, and the photos after it are listed again by
    /// the next step: a run's memory stays a page, whatever the registry's size.
    async fn read<P, S>(
        people: &P,
        photos: &S,
        after: Option<&str>,
        page_size: u32,
    ) -> Result<Self, PortError>
    where
        P: ReconcileStore + ?Sized,
        S: PhotoStore + ?Sized,
    {
        let page_size = page_size.max(1);
        let page = photos.list_photos(after, page_size).await?;
        let mut through = last_key_of(&page)?;
        let mut photos = page.photos;
        let people = people
            .people_by_key(after, through.as_deref(), page_size)
            .await?;
        if people.len() >= page_size as usize
            && let Some(last) = people.last()
        {
            photos.retain(|photo| photo.key <= last.object_key);
            through = Some(last.object_key.clone());
        }
        Ok(Self {
            photos,
            people,
            through,
        })
    }
}

/// How a photo's sighting is remembered: by its key's digest, not its key.
fn photo_subject(key: &str) -> String {
    hex::encode(key_digest(key))
}

/// The services a run needs.
pub struct Reconciler<'a, P: ?Sized, S: ?Sized, F: ?Sized> {
    pub people: &'a P,
    pub photos: &'a S,
    pub faces: &'a F,
    pub settings: ReconcileSettings,
    /// What the changes it makes to people are recorded with.
    pub audit: &'a AuditContext,
}

impl<P, S, F> Reconciler<'_, P, S, F>
where
    P: PersonStore + ReconcileStore + ?Sized,
    S: PhotoStore + ?Sized,
    F: FaceIndex + ?Sized,
{
    /// One run, until both scans end or `deadline` (then the next run goes
    /// on from the checkpoints).
    pub async fn run(&self, deadline: Instant) -> Result<ReconcileReport, PortError> {
        // To the millisecond, as the store keeps times: a sighting noted at
        // `now` must not read back as earlier than the pass that began at `now`.
        let now = Utc::now().trunc_subsecs(3);
        let mut report = ReconcileReport::default();
        while Instant::now() < deadline {
            let swept = sweep_retired_faces(self.people, self.faces).await?;
            report.retired_faces_deleted += swept as u64;
            if swept == 0 {
                break;
            }
        }
        self.finish_erasures(&mut report, now, deadline).await?;
        // Before the photo scan: an old key left by a move would read as a
        // photo nobody records, and be indexed under its old name.
        self.finish_moves(&mut report, now, deadline).await?;
        report.erased_key_digests_forgotten = self
            .people
            .forget_plain_key_digests(now - self.settings.late_events_for)
            .await?;
        self.scan_faces(&mut report, now, deadline).await?;
        self.scan_photos(&mut report, now, deadline).await?;
        Ok(report)
    }

    /// Indexes every person's photo again, from the bucket and the table:
    /// after the collection was lost (a restore), or to move every face to
    /// Rekognition's current face model. Each photo is written again in
    /// place, so the indexer records a new face and retires the old one, as
    /// for any new photo. Goes on from its checkpoint until `deadline`.
    pub async fn rebuild_collection(&self, deadline: Instant) -> Result<RebuildReport, PortError> {
        let now = Utc::now().trunc_subsecs(3);
        let mut report = RebuildReport::default();
        let (mut after, started) = self.resume(Scan::Rebuild, now).await?;
        while Instant::now() < deadline {
            let BucketStep {
                photos,
                people,
                through,
            } = self.read_step(after.as_deref()).await?;
            report.photos_checked += photos.len() as u64;
            for person in people.iter().filter(|person| !person.erasing) {
                if !photos.iter().any(|photo| photo.key == person.object_key) {
                    continue;
                }
                let format = ObjectKey::parse(&person.object_key)
                    .map_err(|e| PortError::Permanent(e.to_string()))?
                    .format();
                if self
                    .photos
                    .rewrite_in_place(&person.object_key, format.content_type())
                    .await?
                {
                    report.photos_redriven += 1;
                }
            }
            after = through;
            if self
                .advance(Scan::Rebuild, after.as_deref(), started)
                .await?
            {
                report.complete = true;
                break;
            }
        }
        Ok(report)
    }

    async fn finish_moves(
        &self,
        report: &mut ReconcileReport,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<(), PortError> {
        // Moves begun within the grace period may still be running.
        let moves = self
            .people
            .unfinished_moves(now - self.settings.grace, self.settings.page_size)
            .await?;
        report.unfinished_moves_found = moves.len() as u64;
        for (id, moved) in moves {
            if Instant::now() >= deadline {
                break;
            }
            match crate::upload::finish_move(self.people, self.photos, id, &moved).await {
                Ok(()) => report.moves_finished += 1,
                Err(crate::upload::UploadError::Port(error)) => return Err(error),
                Err(error) => tracing::warn!(person_id = id.0, %error, "move still unfinished"),
            }
        }
        Ok(())
    }

    async fn finish_erasures(
        &self,
        report: &mut ReconcileReport,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<(), PortError> {
        let eraser = Eraser {
            people: self.people,
            photos: self.photos,
            faces: self.faces,
        };
        // Erasures asked for within the grace period may still be running.
        let erasures = self
            .people
            .unfinished_erasures(now - self.settings.grace, self.settings.page_size)
            .await?;
        report.unfinished_erasures_found = erasures.len() as u64;
        for erasure in erasures {
            if Instant::now() >= deadline {
                break;
            }
            match eraser.finish(&erasure, self.audit).await {
                Ok(erased) if erased.by_this_request => report.erasures_finished += 1,
                // Finished meanwhile by the request that began it.
                Ok(_) => {}
                Err(ErasureError::Port(error)) => return Err(error),
                Err(error) => {
                    tracing::warn!(person_id = erasure.person_id.0, %error, "erasure still unfinished")
                }
            }
        }
        Ok(())
    }

    /// Where a scan goes on from, and when its pass began.
    async fn resume(
        &self,
        scan: Scan,
        now: DateTime<Utc>,
    ) -> Result<(Option<String>, DateTime<Utc>), PortError> {
        let checkpoint = self.people.checkpoint(scan).await?;
        Ok(match (checkpoint.position, checkpoint.pass_started_at) {
            (Some(position), Some(started)) => (Some(position), started),
            _ => (None, now),
        })
    }

    async fn scan_faces(
        &self,
        report: &mut ReconcileReport,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<(), PortError> {
        let (mut position, mut pass_started) = self.resume(Scan::Faces, now).await?;
        while Instant::now() < deadline {
            let page = match self
                .faces
                .list_faces(position.as_deref(), self.settings.page_size)
                .await
            {
                // A token kept from an earlier run that the collection no
                // longer takes: the pass starts again.
                Err(PortError::Permanent(error)) if position.is_some() => {
                    tracing::warn!(%error, "the faces checkpoint was refused; starting the pass again");
                    (position, pass_started) = (None, now);
                    continue;
                }
                page => page?,
            };
            report.faces_checked += page.face_ids.len() as u64;
            let unreferenced = self.people.unreferenced_faces(&page.face_ids).await?;
            report.orphan_faces_found += unreferenced.len() as u64;
            if !unreferenced.is_empty() {
                let first_seen = self
                    .people
                    .sight(SightingKind::Face, &unreferenced, now)
                    .await?;
                let due_faces: Vec<String> = unreferenced
                    .into_iter()
                    .zip(first_seen)
                    .filter(|(_, seen)| due(*seen, now, &self.settings))
                    .map(|(face, _)| face)
                    .collect();
                if !due_faces.is_empty() {
                    // Asked again right before deleting: a face recorded
                    // since the page was read is kept.
                    let orphans = self.people.unreferenced_faces(&due_faces).await?;
                    self.faces.delete_faces(&orphans).await?;
                    self.people
                        .forget_sightings(SightingKind::Face, &orphans)
                        .await?;
                    tracing::info!(count = orphans.len(), "deleted faces no person records");
                    report.orphan_faces_deleted += orphans.len() as u64;
                }
            }
            position = page.next_token;
            if self
                .advance(Scan::Faces, position.as_deref(), pass_started)
                .await?
            {
                report.faces_pass_complete = true;
                break;
            }
        }
        Ok(())
    }

    /// Saves where `scan` goes on from (`next`), or, at the end of its pass
    /// (`next` is `None`), forgets the sightings the pass did not see again
    /// and clears the checkpoint; whether the pass ended.
    async fn advance(
        &self,
        scan: Scan,
        next: Option<&str>,
        pass_started: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let checkpoint = match next {
            Some(position) => Checkpoint {
                position: Some(position.to_owned()),
                pass_started_at: Some(pass_started),
            },
            None => {
                let sightings = match scan {
                    Scan::Faces => Some(SightingKind::Face),
                    Scan::Photos => Some(SightingKind::Photo),
                    Scan::Rebuild => None,
                };
                if let Some(kind) = sightings {
                    self.people
                        .forget_sightings_before(kind, pass_started)
                        .await?;
                }
                Checkpoint::default()
            }
        };
        self.people.save_checkpoint(scan, &checkpoint).await?;
        Ok(next.is_none())
    }

    async fn scan_photos(
        &self,
        report: &mut ReconcileReport,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<(), PortError> {
        let (mut after, pass_started) = self.resume(Scan::Photos, now).await?;
        while Instant::now() < deadline {
            let step = self.read_step(after.as_deref()).await?;
            report.photos_checked += step.photos.len() as u64;
            self.compare_photos(report, &step.photos, &step.people, now)
                .await?;
            after = step.through;
            if self
                .advance(Scan::Photos, after.as_deref(), pass_started)
                .await?
            {
                report.photos_pass_complete = true;
                break;
            }
        }
        Ok(())
    }

    async fn read_step(&self, after: Option<&str>) -> Result<BucketStep, PortError> {
        BucketStep::read(self.people, self.photos, after, self.settings.page_size).await
    }

    /// One page of photos against the people whose keys fall in its range.
    async fn compare_photos(
        &self,
        report: &mut ReconcileReport,
        photos: &[ListedPhoto],
        people: &[KeyedPerson],
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let by_key: std::collections::HashMap<&str, &KeyedPerson> = people
            .iter()
            .map(|person| (person.object_key.as_str(), person))
            .collect();
        let without_person: Vec<String> = photos
            .iter()
            .filter(|photo| !by_key.contains_key(photo.key.as_str()))
            .map(|photo| photo.key.clone())
            .collect();
        let marks: std::collections::HashMap<String, ErasureMark> = without_person
            .iter()
            .cloned()
            .zip(self.people.erasure_marks(&without_person).await?)
            .filter_map(|(key, mark)| Some((key, mark?)))
            .collect();

        let mut unindexed = Vec::new();
        for photo in photos {
            let person = by_key.get(photo.key.as_str()).copied();
            let mark = marks.get(&photo.key);
            let state = photo_state(photo, person, mark, now, &self.settings);
            // Versions an erasure covers go, whether or not the current one
            // is among them (a plain key may be a new person's since).
            if let Some(mark) = mark.filter(|_| state != PhotoState::Foreign) {
                report.erased_photo_versions_deleted +=
                    self.delete_erased_versions(&photo.key, mark, now).await?;
            }
            if state == PhotoState::Unindexed {
                unindexed.push(photo);
            }
        }
        report.unindexed_photos_found += unindexed.len() as u64;
        if !unindexed.is_empty() {
            let subjects: Vec<String> = unindexed.iter().map(|p| photo_subject(&p.key)).collect();
            let first_seen = self
                .people
                .sight(SightingKind::Photo, &subjects, now)
                .await?;
            for ((photo, subject), seen) in unindexed.iter().zip(subjects).zip(first_seen) {
                if !due(seen, now, &self.settings) {
                    continue;
                }
                let format = ObjectKey::parse(&photo.key)
                    .map_err(|e| PortError::Permanent(e.to_string()))?
                    .format();
                if self
                    .photos
                    .rewrite_in_place(&photo.key, format.content_type())
                    .await?
                {
                    report.photos_redriven += 1;
                }
                // Acted on: a photo still unindexed after this waits another
                // grace period before it is written again.
                self.people
                    .forget_sightings(SightingKind::Photo, &[subject])
                    .await?;
            }
        }

        let listed: std::collections::HashSet<&str> =
            photos.iter().map(|photo| photo.key.as_str()).collect();
        for person in people
            .iter()
            .filter(|person| !listed.contains(person.object_key.as_str()))
        {
            let (reason, count) = match missing_photo(person, now, &self.settings) {
                MissingPhoto::Wait => continue,
                MissingPhoto::Expire => (NO_PHOTO_ARRIVED, &mut report.pending_expired),
                MissingPhoto::Gone => (PHOTO_GONE, &mut report.photos_gone),
            };
            if self
                .people
                .reject_unchanged(person.id, person.updated_at, reason, self.audit)
                .await?
            {
                tracing::info!(
                    person_id = person.id.0,
                    reason,
                    "person's photo is not in the bucket"
                );
                *count += 1;
            }
        }
        Ok(())
    }

    /// Deletes the versions under `key` that the erasure covers.
    async fn delete_erased_versions(
        &self,
        key: &str,
        mark: &ErasureMark,
        now: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        let mut deleted = 0;
        for version in self.photos.versions(key).await? {
            if mark.covers(key, version.last_modified.unwrap_or(now)) {
                self.photos.delete_version(key, &version.version_id).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::PersonId;

    fn settings() -> ReconcileSettings {
        ReconcileSettings {
            grace: Duration::minutes(15),
            upload_url_ttl: Duration::minutes(5),
            page_size: 1000,
            late_events_for: Duration::days(14),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    fn person(status: Status, has_face: bool, age_minutes: i64) -> KeyedPerson {
        KeyedPerson {
            id: PersonId(7),
            object_key: "0123456789abcdef0123456789abcdef.dupont_jean.jpg".into(),
            status,
            has_face,
            updated_at: now() - Duration::minutes(age_minutes),
            erasing: false,
        }
    }

    fn photo(key: &str) -> ListedPhoto {
        ListedPhoto {
            key: key.into(),
            last_modified: Some(now() - Duration::hours(1)),
        }
    }

    #[test]
    fn a_pending_person_expires_only_after_the_upload_url_and_the_grace() {
        let s = settings();
        assert_eq!(
            missing_photo(&person(Status::Pending, false, 19), now(), &s),
            MissingPhoto::Wait
        );
        assert_eq!(
            missing_photo(&person(Status::Pending, false, 20), now(), &s),
            MissingPhoto::Expire
        );
        // A rejected person without a face has nothing to lose.
        assert_eq!(
            missing_photo(&person(Status::Rejected, false, 600), now(), &s),
            MissingPhoto::Wait
        );
    }

    #[test]
    fn a_face_whose_photo_is_gone_is_acted_on_after_the_grace() {
        let s = settings();
        assert_eq!(
            missing_photo(&person(Status::Indexed, true, 14), now(), &s),
            MissingPhoto::Wait
        );
        assert_eq!(
            missing_photo(&person(Status::Indexed, true, 15), now(), &s),
            MissingPhoto::Gone
        );
        // A new photo was asked for and never came, and the old one is gone too.
        assert_eq!(
            missing_photo(&person(Status::Pending, true, 15), now(), &s),
            MissingPhoto::Gone
        );
        let mut erasing = person(Status::Indexed, true, 600);
        erasing.erasing = true;
        assert_eq!(missing_photo(&erasing, now(), &s), MissingPhoto::Wait);
    }

    #[test]
    fn photos_are_compared_with_their_person_and_erasures() {
        let s = settings();
        let key = "0123456789abcdef0123456789abcdef.dupont_jean.jpg";
        let listed = photo(key);
        assert_eq!(
            photo_state(&photo("notes.txt"), None, None, now(), &s),
            PhotoState::Foreign
        );
        assert_eq!(
            photo_state(&listed, None, None, now(), &s),
            PhotoState::Unindexed
        );
        let erased = ErasureMark {
            completed_at: Some(now() - Duration::minutes(5)),
        };
        assert_eq!(
            photo_state(&listed, None, Some(&erased), now(), &s),
            PhotoState::Erased
        );
        // A plain key used again after the erasure finished is a new person's.
        let plain = ListedPhoto {
            key: "dupont_jean.jpg".into(),
            last_modified: Some(now()),
        };
        assert_eq!(
            photo_state(&plain, None, Some(&erased), now(), &s),
            PhotoState::Unindexed
        );
        let indexed = person(Status::Indexed, true, 600);
        assert_eq!(
            photo_state(&listed, Some(&indexed), None, now(), &s),
            PhotoState::InPlace
        );
        // Pending while its upload URL may still be used: the photo may be a new one on its way.
        let uploading = person(Status::Pending, true, 10);
        assert_eq!(
            photo_state(&listed, Some(&uploading), None, now(), &s),
            PhotoState::InPlace
        );
        let stuck = person(Status::Pending, false, 20);
        assert_eq!(
            photo_state(&listed, Some(&stuck), None, now(), &s),
            PhotoState::Unindexed
        );
    }

    #[test]
    fn something_is_due_once_out_of_place_for_the_grace_period() {
        let s = settings();
        assert!(!due(now() - Duration::minutes(14), now(), &s));
        assert!(due(now() - Duration::minutes(15), now(), &s));
    }

    #[test]
    fn drift_counts_what_was_found_and_not_what_was_routine() {
        let report = ReconcileReport {
            retired_faces_deleted: 3,
            orphan_faces_found: 2,
            orphan_faces_deleted: 1,
            ..ReconcileReport::default()
        };
        assert_eq!(report.drift(), 2);
        assert_eq!(report.repaired(), 4);
    }

    #[test]
    fn a_photo_sighting_holds_no_name() {
        let subject = photo_subject("dupont_jean.jpg");
        assert_eq!(subject.len(), 64);
        assert!(!subject.contains("dupont"));
    }
}
