//! Compiles the C++ of `src/hog.rs` (dlib's HOG detector over two threads)
//! against the system's dlib, which `dlib-face-recognition` links.

fn main() {
    println!("cargo:rerun-if-changed=src/hog.rs");
    println!("cargo:rerun-if-changed=src/hog_detector.hpp");
    let mut config = cpp_build::Config::new();
    config
        .include("src")
        .flag("-std=c++14")
        // dlib's templates are tens of times slower unoptimised: the
        // detector is compiled for speed in every profile.
        .flag("-O3");
    // dlib's HOG features use SSE4 and AVX when the compiler may (its
    // `simd` headers test `__AVX__`): the engine is built on the machine
    // that runs it, so for that machine's instructions.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        config.flag_if_supported("-march=native");
        // No fused multiply-adds: their rounding would move a box by a
        // pixel from what dlib finds.
        config.flag_if_supported("-ffp-contract=off");
    }
    config.build("src/lib.rs");
}
