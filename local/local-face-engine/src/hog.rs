//! dlib's HOG face detector (`get_frontal_face_detector`), with its image
//! pyramid scanned by two threads.
//!
//! dlib scans one level of the pyramid after another on one thread. Here the
//! calling thread scans the full-size image (the largest level) while a
//! second thread builds the smaller levels; both then take the remaining
//! levels in turn, each as soon as it is built. Each level is scanned by a one-level copy of dlib's own
//! scanner with the detector's own weights, the boxes are mapped back to the
//! image as dlib maps them, and the same non-maximum suppression keeps the
//! best of overlapping boxes: the faces found are dlib's, box for box (a test
//! compares both), in about half the time on two cores.
//!
//! Its window is 80 px; Rekognition finds faces down to 40 px. A photo is
//! doubled first as dlib's Python detector doubles it when asked to
//! upsample once (`pyramid_up`, then `rect_down` for the boxes), so the
//! faces found are those too, box for box.

use std::cell::UnsafeCell;
use std::marker::PhantomData;

use cpp::{cpp, cpp_class};
use dlib_face_recognition::{FaceLocations, ImageMatrix, Rectangle};

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

    /// The faces it finds in `image` doubled ([`pyramid_up`]), their boxes
    /// mapped back ([`rect_down`]): what dlib's Python detector finds when
    /// asked to upsample once, down to faces of half its 80 px window.
    pub fn face_locations_doubled(&self, image: &ImageMatrix) -> FaceLocations {
        let detector = &self.inner;
        unsafe {
            cpp!([detector as "PyramidHogDetector*", image as "const dlib::matrix<dlib::rgb_pixel>*"] -> FaceLocations as "std::vector<dlib::rectangle>" {
                return detector->detect_doubled(*image);
            })
        }
    }
}

/// `image` doubled, as dlib's `pyramid_up` with a `pyramid_down<2>` does.
pub fn pyramid_up(image: &ImageMatrix) -> ImageMatrix {
    unsafe {
        cpp!([image as "const dlib::matrix<dlib::rgb_pixel>*"] -> ImageMatrix as "dlib::matrix<dlib::rgb_pixel>" {
            dlib::matrix<dlib::rgb_pixel> doubled;
            dlib::pyramid_up(*image, doubled, dlib::pyramid_down<2>());
            return doubled;
        })
    }
}

/// A box of a doubled image mapped back to the image, as dlib maps it.
pub fn rect_down(rect: &Rectangle) -> Rectangle {
    let (left, top, right, bottom) = (rect.left, rect.top, rect.right, rect.bottom);
    let mut out = [0 as std::os::raw::c_long; 4];
    let out_ptr = out.as_mut_ptr();
    unsafe {
        cpp!([left as "long", top as "long", right as "long", bottom as "long", out_ptr as "long*"] {
            dlib::rectangle down = dlib::pyramid_down<2>().rect_down(dlib::rectangle(left, top, right, bottom));
            out_ptr[0] = down.left();
            out_ptr[1] = down.top();
            out_ptr[2] = down.right();
            out_ptr[3] = down.bottom();
        })
    }
    Rectangle {
        left: out[0],
        top: out[1],
        right: out[2],
        bottom: out[3],
    }
}
