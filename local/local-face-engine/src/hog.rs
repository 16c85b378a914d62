//! dlib's HOG face detector (`get_frontal_face_detector`), with its image
//! pyramid scanned by two threads.
//!
//! dlib scans one level of the pyramid after another on one thread. Here the
//! calling thread scans the full-size image (the largest level) while a
//! second thread builds the smaller levels; then both take the remaining
//! levels in turn. Each level is scanned by a one-level copy of dlib's own
//! scanner with the detector's own weights, the boxes are mapped back to the
//! image as dlib maps them, and the same non-maximum suppression keeps the
//! best of overlapping boxes: the faces found are dlib's, box for box (a test
//! compares both), in about half the time on two cores.

use std::cell::UnsafeCell;
use std::marker::PhantomData;

use cpp::{cpp, cpp_class};
use dlib_face_recognition::{FaceLocations, ImageMatrix};

cpp! {{
    #include "hog_detector.hpp"
}}

cpp_class!(unsafe struct PyramidHogDetector as "PyramidHogDetector");

/// dlib's HOG face detector, scanning on two threads.
pub struct HogDetector {
    inner: PyramidHogDetector,
    /// The detectors keep scratch state: usable from one thread at a time
    /// (`Send`, not `Sync`), as dlib's own wrapper marks them.
    _not_sync: PhantomData<UnsafeCell<()>>,
}

impl Default for HogDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl HogDetector {
    pub fn new() -> Self {
        let inner = unsafe {
            cpp!([] -> PyramidHogDetector as "PyramidHogDetector" {
                return PyramidHogDetector();
            })
        };
        Self {
            inner,
            _not_sync: PhantomData,
        }
    }

    /// The faces dlib's frontal face detector finds in `image`.
    pub fn face_locations(&self, image: &ImageMatrix) -> FaceLocations {
        let detector = &self.inner;
        unsafe {
            cpp!([detector as "PyramidHogDetector*", image as "const dlib::matrix<dlib::rgb_pixel>*"] -> FaceLocations as "std::vector<dlib::rectangle>" {
                return detector->detect(*image);
            })
        }
    }
}
