"""The Python baseline of the face engine's benchmark: face_recognition 1.3.0
(dlib's HOG detector, five-point landmarks and ResNet embedding) on the same
photos and models. Prints one JSON object: for each photo, the median time in
milliseconds of detection + embedding, without upsampling (as the engine
scans) and with face_recognition's default of one upsampling."""

import json
import statistics
import sys
import time

import face_recognition

RUNS = 11


def timed(image, upsample):
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        locations = face_recognition.face_locations(image, number_of_times_to_upsample=upsample)
        face_recognition.face_encodings(image, known_face_locations=locations)
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples) * 1000, 1)


def main(folder, names):
    baseline = {}
    for name in names:
        image = face_recognition.load_image_file(f"{folder}/{name}")
        baseline[name] = {"upsample0Ms": timed(image, 0), "upsample1Ms": timed(image, 1)}
    print(json.dumps(baseline))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
