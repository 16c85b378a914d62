// dlib's HOG face detector with its image pyramid scanned by two threads:
// see hog.rs. Included by the cpp! block there.
#pragma once

#include <dlib/image_processing/frontal_face_detector.h>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

class PyramidHogDetector {
  public:
    typedef dlib::scan_fhog_pyramid<dlib::pyramid_down<6>> Scanner;
    typedef dlib::object_detector<Scanner> Detector;

    PyramidHogDetector() : whole(dlib::get_frontal_face_detector()) {
        Scanner one_level;
        one_level.copy_configuration(whole.get_scanner());
        one_level.set_max_pyramid_levels(1);
        std::vector<Detector::feature_vector_type> weights;
        for (unsigned long i = 0; i < whole.num_detectors(); ++i) {
            weights.push_back(whole.get_w(i));
        }
        for (auto& worker : workers) {
            worker = Detector(one_level, whole.get_overlap_tester(), weights);
        }
    }

    std::vector<dlib::rectangle> detect(const dlib::matrix<dlib::rgb_pixel>& image) {
        const Scanner& scanner = whole.get_scanner();
        dlib::pyramid_down<6> pyramid;
        // The levels dlib's create_fhog_pyramid makes of this image.
        unsigned long levels = 0;
        dlib::rectangle rect = dlib::get_rect(image);
        do {
            rect = pyramid.rect_down(rect);
            ++levels;
        } while (rect.width() >= scanner.get_min_pyramid_layer_width()
            && rect.height() >= scanner.get_min_pyramid_layer_height()
            && levels < scanner.get_max_pyramid_levels());

        // smaller[l] is level l (index 0 unused: the image itself).
        dlib::array<dlib::array2d<dlib::rgb_pixel>> smaller;
        smaller.set_max_size(levels);
        smaller.set_size(levels);
        std::atomic<unsigned long> next(1);
        // Levels 1 to built - 1 are ready: a level is scanned as soon as it
        // is built, not once the whole pyramid is.
        std::mutex building;
        std::condition_variable level_built;
        unsigned long built = 1;
        std::vector<dlib::rect_detection> found[2];

        auto scan = [&](int worker, unsigned long level) {
            std::vector<dlib::rect_detection> detections;
            if (level == 0) {
                workers[worker](image, detections, 0.0);
            } else {
                workers[worker](smaller[level], detections, 0.0);
            }
            for (auto& detection : detections) {
                detection.rect = pyramid.rect_up(detection.rect, level);
                found[worker].push_back(detection);
            }
        };
        auto scan_the_rest = [&](int worker) {
            for (unsigned long level = next++; level < levels; level = next++) {
                std::unique_lock<std::mutex> lock(building);
                level_built.wait(lock, [&] { return built > level; });
                lock.unlock();
                scan(worker, level);
            }
        };
        auto mark_built = [&](unsigned long level) {
            {
                std::lock_guard<std::mutex> lock(building);
                built = level + 1;
            }
            level_built.notify_all();
        };

        std::thread builder;
        try {
            builder = std::thread([&] {
                // As create_fhog_pyramid builds them, one from the other.
                for (unsigned long level = 1; level < levels; ++level) {
                    if (level == 1) {
                        pyramid(image, smaller[1]);
                    } else {
                        pyramid(smaller[level - 1], smaller[level]);
                    }
                    mark_built(level);
                }
                scan_the_rest(1);
            });
        } catch (const std::system_error&) {
            // No second thread to be had: dlib's own single-threaded scan.
            return whole(image);
        }
        scan(0, 0);
        scan_the_rest(0);
        builder.join();

        // dlib's non-maximum suppression (object_detector::operator()).
        std::vector<dlib::rect_detection> all = found[0];
        all.insert(all.end(), found[1].begin(), found[1].end());
        std::sort(all.rbegin(), all.rend());
        const dlib::test_box_overlap& overlaps = whole.get_overlap_tester();
        std::vector<dlib::rectangle> kept;
        for (const auto& detection : all) {
            bool overlapping = false;
            for (const auto& box : kept) {
                if (overlaps(detection.rect, box)) {
                    overlapping = true;
                    break;
                }
            }
            if (!overlapping) {
                kept.push_back(detection.rect);
            }
        }
        return kept;
    }

    // The image doubled first, as dlib's Python detector does when asked to
    // upsample once (face_recognition's default): pyramid_up, then the
    // boxes mapped back with rect_down.
    std::vector<dlib::rectangle> detect_doubled(const dlib::matrix<dlib::rgb_pixel>& image) {
        dlib::pyramid_down<2> pyramid;
        dlib::matrix<dlib::rgb_pixel> doubled;
        dlib::pyramid_up(image, doubled, pyramid);
        std::vector<dlib::rectangle> found = detect(doubled);
        for (auto& rect : found) {
            rect = pyramid.rect_down(rect);
        }
        return found;
    }

  private:
    Detector whole;
    Detector workers[2];
};
