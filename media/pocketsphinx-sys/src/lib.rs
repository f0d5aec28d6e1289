//! Hand-written FFI to the few PocketSphinx 5.1.1 functions the built-in
//! recogniser needs, and a safe [`Decoder`] over them.
//!
//! The C library is static, built by `scripts/install-pocketsphinx.sh` (see
//! `build.rs`). No bindgen: the declarations below are copied from
//! `pocketsphinx.h`, `pocketsphinx/search.h` and `pocketsphinx/logmath.h` of
//! 5.1.1 and must be kept in step with that version (the script pins it).
//!
//! Thread model: a [`Decoder`] owns its `ps_decoder_t` exclusively. It may move
//! between threads (`Send`) but is not `Sync`: every call takes `&mut self`.
//! PocketSphinx keeps no global mutable state apart from its log level and a
//! thread-local RNG (`PS_THREAD_LOCAL_RNG=ON`, the CMake default).

use std::ffi::{c_double, c_int, c_long, CStr, CString};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

pub mod grammar;

/// Raw declarations. Opaque structs are zero-sized `#[repr(C)]` types only
/// ever used behind pointers.
pub mod ffi {
    use std::ffi::{c_char, c_double, c_int, c_long, c_void};

    #[repr(C)]
    pub struct ps_config_t {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct ps_decoder_t {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct logmath_t {
        _private: [u8; 0],
    }

    extern "C" {
        pub fn ps_config_init(defn: *const c_void) -> *mut ps_config_t;
        pub fn ps_config_free(config: *mut ps_config_t) -> c_int;
        pub fn ps_config_set_str(config: *mut ps_config_t, name: *const c_char, val: *const c_char) -> *const c_void;
        pub fn ps_config_set_int(config: *mut ps_config_t, name: *const c_char, val: c_long) -> *const c_void;
        pub fn ps_config_set_bool(config: *mut ps_config_t, name: *const c_char, val: c_int) -> *const c_void;
        pub fn ps_init(config: *mut ps_config_t) -> *mut ps_decoder_t;
        pub fn ps_free(ps: *mut ps_decoder_t) -> c_int;
        pub fn ps_add_jsgf_string(ps: *mut ps_decoder_t, name: *const c_char, jsgf: *const c_char) -> c_int;
        pub fn ps_activate_search(ps: *mut ps_decoder_t, name: *const c_char) -> c_int;
        pub fn ps_start_utt(ps: *mut ps_decoder_t) -> c_int;
        pub fn ps_process_raw(ps: *mut ps_decoder_t, data: *const i16, n_samples: usize, no_search: c_int, full_utt: c_int) -> c_int;
        pub fn ps_end_utt(ps: *mut ps_decoder_t) -> c_int;
        pub fn ps_get_hyp(ps: *mut ps_decoder_t, out_best_score: *mut i32) -> *const c_char;
        pub fn ps_get_prob(ps: *mut ps_decoder_t) -> i32;
        pub fn ps_get_logmath(ps: *mut ps_decoder_t) -> *mut logmath_t;
        pub fn logmath_exp(lmath: *mut logmath_t, logb_p: c_int) -> c_double;
        pub fn err_set_loglevel_str(lvl: *const c_char) -> *const c_char;
        pub fn ps_get_cmn(ps: *mut ps_decoder_t, update: c_int) -> *const c_char;
    }
}

/// Errors of the safe wrapper: which call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pocketsphinx: {}", self.0)
    }
}
impl std::error::Error for Error {}

/// The model directory baked in at build time (`<prefix>/model/en-us`),
/// overridden by the `CENTRALITA_ASR_MODEL_DIR` environment variable.
pub fn default_model_dir() -> PathBuf {
    std::env::var_os("CENTRALITA_ASR_MODEL_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("POCKETSPHINX_DEFAULT_MODEL")))
}

fn cstr(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error(format!("NUL byte in {s:?}")))
}

/// A best hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Space-separated words (empty when only silence/fillers matched).
    pub text: String,
    /// Path score (log domain, the decoder's base).
    pub score: i32,
    /// Posterior probability of the hypothesis, 0..=1 (from `ps_get_prob`).
    pub posterior: f64,
}

/// A PocketSphinx decoder: 16 kHz, 16-bit mono input. One per recogniser
/// thread; loading the en-US model takes ~100 ms and ~20 MB.
pub struct Decoder {
    ps: NonNull<ffi::ps_decoder_t>,
    /// `!Sync` (raw pointer in the marker), still `Send` by the impl below.
    _not_sync: PhantomData<*mut ()>,
}

// SAFETY: the decoder is exclusively owned (no aliasing pointers escape), all
// methods take `&mut self`, and PocketSphinx has no thread affinity.
unsafe impl Send for Decoder {}

impl Decoder {
    /// Loads the acoustic model `model_dir/en-us` and the dictionary
    /// `model_dir/cmudict-en-us.dict` (the layout of the install script).
    /// No language model and no search are active until [`Self::set_jsgf`].
    pub fn new(model_dir: &Path) -> Result<Self, Error> {
        Self::with_options(model_dir, &[])
    }

    /// [`Self::new`] with extra decoder parameters, as PocketSphinx names
    /// them without the dash (`("dither", "yes")`); each value is parsed for
    /// the parameter's type, and an unknown name or bad value is an error.
    pub fn with_options(model_dir: &Path, options: &[(&str, &str)]) -> Result<Self, Error> {
        let hmm = model_dir.join("en-us");
        let dict = model_dir.join("cmudict-en-us.dict");
        if !hmm.join("mdef").is_file() || !dict.is_file() {
            return Err(Error(format!("no en-us model in {}", model_dir.display())));
        }
        let hmm = cstr(&hmm.to_string_lossy())?;
        let dict = cstr(&dict.to_string_lossy())?;
        let quiet = cstr("FATAL")?;
        // SAFETY: a valid NUL-terminated string; sets a global log level only.
        unsafe { ffi::err_set_loglevel_str(quiet.as_ptr()) };
        // SAFETY: NULL means "the default argument definitions".
        let config = unsafe { ffi::ps_config_init(std::ptr::null()) };
        if config.is_null() {
            return Err(Error("ps_config_init failed".into()));
        }
        let config = ConfigGuard(config);
        config.set_str("hmm", &hmm)?;
        config.set_str("dict", &dict)?;
        config.set_str("loglevel", &quiet)?;
        config.set_int("samprate", 16_000)?;
        for (name, value) in options {
            config.set_str(name, &cstr(value)?)?;
        }
        // SAFETY: `config.0` is a live config; ps_init retains its own reference.
        let ps = unsafe { ffi::ps_init(config.0) };
        let ps = NonNull::new(ps).ok_or_else(|| Error("ps_init failed (model?)".into()))?;
        Ok(Self { ps, _not_sync: PhantomData })
    }

    /// Adds the JSGF grammar `jsgf` as search `name` and activates it.
    pub fn set_jsgf(&mut self, name: &str, jsgf: &str) -> Result<(), Error> {
        let name_c = cstr(name)?;
        let jsgf_c = cstr(jsgf)?;
        // SAFETY: live decoder, valid C strings copied by the callee.
        let rc = unsafe { ffi::ps_add_jsgf_string(self.ps.as_ptr(), name_c.as_ptr(), jsgf_c.as_ptr()) };
        if rc < 0 {
            return Err(Error(format!("grammar {name:?} rejected (syntax or unknown word)")));
        }
        // SAFETY: live decoder, valid C string.
        let rc = unsafe { ffi::ps_activate_search(self.ps.as_ptr(), name_c.as_ptr()) };
        if rc < 0 {
            return Err(Error(format!("cannot activate search {name:?}")));
        }
        Ok(())
    }

    /// Starts an utterance.
    pub fn start_utt(&mut self) -> Result<(), Error> {
        // SAFETY: live decoder.
        let rc = unsafe { ffi::ps_start_utt(self.ps.as_ptr()) };
        if rc < 0 {
            return Err(Error("ps_start_utt failed (no active search?)".into()));
        }
        Ok(())
    }

    /// Feeds 16 kHz samples. `full_utt`: `samples` is the whole utterance
    /// (lets the decoder use batch cepstral mean normalisation).
    pub fn process_raw(&mut self, samples: &[i16], full_utt: bool) -> Result<usize, Error> {
        // SAFETY: live decoder; pointer+length of a live slice, only read.
        let n = unsafe { ffi::ps_process_raw(self.ps.as_ptr(), samples.as_ptr(), samples.len(), 0, c_int::from(full_utt)) };
        usize::try_from(n).map_err(|_| Error("ps_process_raw failed".into()))
    }

    /// Ends the utterance (finishes the search).
    pub fn end_utt(&mut self) -> Result<(), Error> {
        // SAFETY: live decoder.
        let rc = unsafe { ffi::ps_end_utt(self.ps.as_ptr()) };
        if rc < 0 {
            return Err(Error("ps_end_utt failed".into()));
        }
        Ok(())
    }

    /// The best hypothesis so far (partial during, final after `end_utt`).
    pub fn hyp(&mut self) -> Option<Hypothesis> {
        let mut score = 0i32;
        // SAFETY: live decoder; `score` is a valid out pointer. The returned
        // string is owned by the decoder and valid until the next call on it,
        // so it is copied right away.
        let p = unsafe { ffi::ps_get_hyp(self.ps.as_ptr(), &mut score) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-NULL, NUL-terminated, alive until the next decoder call.
        let text = unsafe { CStr::from_ptr(p) }.to_string_lossy().trim().to_owned();
        // SAFETY: live decoder.
        let prob = unsafe { ffi::ps_get_prob(self.ps.as_ptr()) };
        // SAFETY: live decoder; the logmath object is owned by it.
        let lmath = unsafe { ffi::ps_get_logmath(self.ps.as_ptr()) };
        let posterior = if lmath.is_null() {
            0.0
        } else {
            // SAFETY: non-NULL logmath owned by the live decoder.
            let p: c_double = unsafe { ffi::logmath_exp(lmath, prob) };
            p.clamp(0.0, 1.0)
        };
        Some(Hypothesis { text, score, posterior })
    }

    /// The current cepstral mean (the channel estimate of live CMN), as
    /// `cmninit` takes it; `update`: from the utterance so far.
    pub fn cmn(&mut self, update: bool) -> Option<String> {
        // SAFETY: live decoder; the string is owned by the decoder and copied at once.
        let p = unsafe { ffi::ps_get_cmn(self.ps.as_ptr(), c_int::from(update)) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-NULL, NUL-terminated, alive until the next decoder call.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// Decodes a whole utterance in one go.
    pub fn decode(&mut self, samples: &[i16]) -> Result<Option<Hypothesis>, Error> {
        self.start_utt()?;
        self.process_raw(samples, true)?;
        self.end_utt()?;
        Ok(self.hyp())
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: we own the only reference; it is not used after this.
        unsafe { ffi::ps_free(self.ps.as_ptr()) };
    }
}

struct ConfigGuard(*mut ffi::ps_config_t);

impl ConfigGuard {
    fn set_str(&self, name: &str, val: &CStr) -> Result<(), Error> {
        let name_c = cstr(name)?;
        // SAFETY: live config, valid C strings (copied by the callee).
        let r = unsafe { ffi::ps_config_set_str(self.0, name_c.as_ptr(), val.as_ptr()) };
        if r.is_null() {
            return Err(Error(format!("config {name} rejected")));
        }
        Ok(())
    }
    fn set_int(&self, name: &str, val: c_long) -> Result<(), Error> {
        let name_c = cstr(name)?;
        // SAFETY: live config, valid C string.
        let r = unsafe { ffi::ps_config_set_int(self.0, name_c.as_ptr(), val) };
        if r.is_null() {
            return Err(Error(format!("config {name} rejected")));
        }
        Ok(())
    }
    #[allow(dead_code)]
    fn set_bool(&self, name: &str, val: bool) -> Result<(), Error> {
        let name_c = cstr(name)?;
        // SAFETY: live config, valid C string.
        let r = unsafe { ffi::ps_config_set_bool(self.0, name_c.as_ptr(), c_int::from(val)) };
        if r.is_null() {
            return Err(Error(format!("config {name} rejected")));
        }
        Ok(())
    }
}

impl Drop for ConfigGuard {
    fn drop(&mut self) {
        // SAFETY: the config is ours; ps_init took its own reference.
        unsafe { ffi::ps_config_free(self.0) };
    }
}
