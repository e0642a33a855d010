//! argon2id hashing and verification. Slow on purpose (tens of ms): call it
//! off the async workers. Hashes are standard PHC strings; verification
//! uses the cost a hash names and compares in constant time; an unknown
//! user is checked against a dummy hash so that timing does not tell which
//! usernames exist. It must not keep argon2 workspaces while idle.
//! Requests reach it through [`HashQueue`], argon2's own bounded queue: it
//! never waits behind, or holds, a database connection.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

pub struct PasswordHasher {
    params: Params,
    dummy_hash: String,
    workspaces: Arc<Workspaces>,
}

/// At most one argon2 computation per core at a time, each in a 19 MiB
/// workspace: more at once only thrash the caches. Only the hashing waits,
/// not the database work around it. While others wait, a finished
/// computation hands its workspace to the next one rather than freeing it:
/// a fresh one costs a page fault per 4 KiB, about 15% of a hash. When
/// nobody waits it is unmapped, so an idle service keeps none.
struct Workspaces {
    state: Mutex<WorkspaceState>,
    returned: Condvar,
}

struct WorkspaceState {
    /// How many hashes may run at once.
    slots: usize,
    free: usize,
    waiting: usize,
    /// Requests holding a `HashTurn`: each may be about to hash.
    admitted: usize,
    kept: Vec<Workspace>,
}

/// An argon2 workspace in an anonymous mapping of its own. The kernel hands
/// it over zeroed (no memset) and takes it back whole on drop; a heap block
/// of this size stays in the malloc arena of whichever thread freed it (the
/// service sat at 168 MB RSS after a few sequential sign-ins).
struct Workspace {
    start: NonNull<Block>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; nothing else aliases it.
unsafe impl Send for Workspace {}

impl Workspace {
    fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::array::<Block>(len).expect("workspace size fits");
        let bytes = layout.size();
        // SAFETY: a private anonymous mapping, not aliased by anything.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(layout);
        }
        // Huge pages: a handful of faults instead of one per 4 KiB, and
        // fewer TLB misses in argon2's random reads. Advice only: where
        // the kernel has no transparent huge pages it is ignored.
        // SAFETY: advice on the mapping just made.
        unsafe { libc::madvise(start, bytes, libc::MADV_HUGEPAGE) };
        let start = NonNull::new(start.cast::<Block>())
            .unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Self { start, len }
    }

    fn blocks(&mut self) -> &mut [Block] {
        // SAFETY: the mapping is page-aligned (Block needs 64 bytes), `len`
        // blocks long, zero-filled by the kernel (all-zero bits are a valid
        // Block: it is an array of u64) and borrowed mutably through self.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, once.
        unsafe {
            libc::munmap(
                self.start.as_ptr().cast(),
                self.len * std::mem::size_of::<Block>(),
            );
        }
    }
}

impl Workspaces {
    fn new(count: usize) -> Self {
        Self {
            state: Mutex::new(WorkspaceState {
                slots: count.max(1),
                free: count.max(1),
                waiting: 0,
                admitted: 0,
                kept: Vec::new(),
            }),
            returned: Condvar::new(),
        }
    }

    fn run<T>(&self, blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let kept = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.waiting += 1;
            while state.free == 0 {
                state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            state.waiting -= 1;
            state.free -= 1;
            state.kept.pop()
        };
        let mut workspace = match kept {
            Some(workspace) if workspace.len == blocks => workspace,
            _ => Workspace::new(blocks),
        };
        let result = work(workspace.blocks());
        let unused = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.free += 1;
            let running = state.slots - state.free;
            // Someone waits, or an admitted request (besides this one) may
            // hash next: a fresh mapping would cost it its page faults. No
            // more are kept than could be used.
            let useful = state.waiting + state.admitted.saturating_sub(running + 1);
            if state.kept.len() < useful {
                state.kept.push(workspace);
                None
            } else {
                Some(workspace)
            }
        };
        self.returned.notify_one();
        drop(unused);
        result
    }

    fn admit(&self) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admitted += 1;
    }

    /// A turn ended: keep no more workspaces than the admitted requests
    /// that are not hashing could use (none once idle).
    fn dismiss(&self) {
        let unused: Vec<Workspace> = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.admitted = state.admitted.saturating_sub(1);
            let running = state.slots - state.free;
            let useful = state.admitted.saturating_sub(running);
            let keep = state.kept.len().min(useful);
            state.kept.split_off(keep)
        };
        drop(unused);
    }
}

/// The queue requests wait in for argon2: `running` turns at a time (a
/// few per core, so that the database work around one hash overlaps
/// another hash; the workspaces still let one hash per core run), up to
/// `capacity` more wait on the async side (holding no thread, no
/// connection), and past that a request is refused at once, so a flood of
/// sign-ins costs the rest of the service nothing but the cores argon2 was
/// always going to use.
pub struct HashQueue {
    turns: Arc<Semaphore>,
    waiting: AtomicUsize,
    capacity: usize,
    workspaces: Arc<Workspaces>,
}

/// The right to hash (or verify) now; give it back by dropping it.
pub struct HashTurn {
    _permit: OwnedSemaphorePermit,
    workspaces: Arc<Workspaces>,
}

impl HashTurn {
    fn new(permit: OwnedSemaphorePermit, workspaces: &Arc<Workspaces>) -> Self {
        workspaces.admit();
        Self {
            _permit: permit,
            workspaces: Arc::clone(workspaces),
        }
    }
}

impl Drop for HashTurn {
    fn drop(&mut self) {
        self.workspaces.dismiss();
    }
}

/// The queue is full: the caller should try again shortly.
#[derive(Debug)]
pub struct QueueFull;

impl HashQueue {
    /// The queue in front of `hasher`.
    pub fn new(hasher: &PasswordHasher, running: usize, capacity: usize) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(running.max(1))),
            waiting: AtomicUsize::new(0),
            capacity,
            workspaces: Arc::clone(&hasher.workspaces),
        }
    }

    /// How many callers wait for a turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Waits for a turn, in arrival order; `QueueFull` at once when
    /// `capacity` callers already wait.
    pub async fn turn(&self) -> Result<HashTurn, QueueFull> {
        if let Ok(permit) = Arc::clone(&self.turns).try_acquire_owned() {
            return Ok(HashTurn::new(permit, &self.workspaces));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(QueueFull);
        }
        // Counted out however the wait ends, a client hanging up included.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _waiting = Waiting(&self.waiting);
        let permit = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(|_| QueueFull)?;
        Ok(HashTurn::new(permit, &self.workspaces))
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// argon2id, version 0x13, with the crate's default cost (19 MiB, 2
    /// passes, 1 lane: the OWASP recommendation).
    pub fn new() -> Self {
        let mut hasher = Self {
            params: Params::default(),
            dummy_hash: String::new(),
            workspaces: Arc::new(Workspaces::new(crate::settings::cores())),
        };
        hasher.dummy_hash = hasher
            .hash("portrait-dummy-password")
            .expect("argon2 hashes with default parameters");
        hasher
    }

    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes)?;
        let output = self.compute(
            Algorithm::Argon2id,
            Version::V0x13,
            &self.params,
            password.as_bytes(),
            salt_bytes,
        )?;
        Ok(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        }
        .to_string())
    }

    /// True when `password` matches `hash`, computed with the algorithm,
    /// version and cost the hash names; a malformed hash never matches.
    /// The comparison is constant-time (`Output`'s `PartialEq`).
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from).transpose() {
            Ok(version) => version.unwrap_or_default(),
            Err(_) => return false,
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        self.compute(algorithm, version, &params, password.as_bytes(), salt_bytes)
            .is_ok_and(|computed| computed == expected)
    }

    /// Spends the same time as a real verification, for unknown users.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy_hash);
    }

    fn compute(
        &self,
        algorithm: Algorithm,
        version: Version,
        params: &Params,
        password: &[u8],
        salt: &[u8],
    ) -> Result<Output, argon2::password_hash::Error> {
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        self.workspaces.run(params.block_count(), |workspace| {
            Output::init_with(output_len, |out| {
                Ok(argon2.hash_password_into_with_memory(password, salt, out, workspace)?)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_hash_queue_refuses_at_once_when_full_and_serves_in_order() {
        let hasher = PasswordHasher::new();
        let queue = Arc::new(HashQueue::new(&hasher, 1, 2));
        let running = queue.turn().await.unwrap();
        let (first, second) = (queue.clone(), queue.clone());
        let first = tokio::spawn(async move { first.turn().await.map(|_| 1) });
        tokio::task::yield_now().await;
        let second = tokio::spawn(async move { second.turn().await.map(|_| 2) });
        while queue.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(queue.turn().await.is_err(), "a third waiter is refused");
        drop(running);
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert_eq!(queue.waiting.load(Ordering::Acquire), 0);
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let hasher = PasswordHasher::new();
        let a = hasher.hash("correct horse").unwrap();
        let b = hasher.hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(hasher.verify("correct horse", &a));
        assert!(!hasher.verify("wrong horse", &a));
        assert!(!hasher.verify("correct horse", "not a hash"));
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hasher_and_verifier() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new();
        let ours = hasher.hash("correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        // A stored hash with another cost (an older policy) still verifies.
        let cheaper = Params::new(8 * 1024, 3, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, cheaper)
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(theirs.contains("m=8192,t=3"));
        assert!(hasher.verify("correct horse", &theirs));
        assert!(!hasher.verify("wrong horse", &theirs));
    }

    #[test]
    fn concurrent_verifications_sharing_workspaces_are_all_right() {
        let hasher = std::sync::Arc::new(PasswordHasher::new());
        let right = hasher.hash("right").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (hasher, right) = (hasher.clone(), right.clone());
                std::thread::spawn(move || {
                    let password = if i % 2 == 0 { "right" } else { "wrong" };
                    (i, hasher.verify(password, &right))
                })
            })
            .collect();
        for thread in threads {
            let (i, verified) = thread.join().unwrap();
            assert_eq!(verified, i % 2 == 0, "thread {i}");
        }
        let state = hasher.workspaces.state.lock().unwrap();
        assert!(state.kept.is_empty(), "no workspace is kept once idle");
    }

    #[tokio::test]
    async fn workspaces_are_kept_for_admitted_turns_and_freed_with_the_last() {
        let hasher = PasswordHasher::new();
        let queue = HashQueue::new(&hasher, 4, 8);
        let right = hasher.hash("right").unwrap();
        let turns = [
            queue.turn().await.unwrap(),
            queue.turn().await.unwrap(),
            queue.turn().await.unwrap(),
        ];
        assert!(hasher.verify("right", &right));
        let kept = |h: &PasswordHasher| h.workspaces.state.lock().unwrap().kept.len();
        assert_eq!(
            kept(&hasher),
            1,
            "two other admitted requests may hash next"
        );
        drop(turns);
        assert_eq!(kept(&hasher), 0, "nothing kept once no turn is held");
    }
}
