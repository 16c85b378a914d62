//! Compiles the C++ of `src/hog.rs` (dlib's HOG detector over two threads)
//! against the system's dlib, which `dlib-face-recognition` links.

fn main() {
    println!("cargo:rerun-if-changed=src/hog.rs");
    println!("cargo:rerun-if-changed=src/hog_detector.hpp");
    cpp_build::Config::new()
        .include("src")
        .flag("-std=c++14")
        // dlib's templates are tens of times slower unoptimised: the
        // detector is compiled for speed in every profile.
        .flag("-O3")
        .build("src/lib.rs");
}
