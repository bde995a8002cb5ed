"""The OCR recognition model in onnxruntime, one thread, on the line tensors kaoyomi-bench-ocr
wrote (the same model file tract runs). Prints `key value` lines like the Rust bench, and the
largest difference between the two runtimes' probabilities.

Run by `cargo xtask bench-ocr` in the bench's virtual environment (packages pinned there).
"""
import sys

import numpy as np
import onnxruntime as ort

from bench_ort import median_ms


def main():
    model, tensors, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    total = 0.0
    outputs = []
    with open(f"{tensors}/lines.txt") as f:
        for i, line in enumerate(f):
            file, width = line.split()
            x = np.fromfile(f"{tensors}/{file}", dtype="<f4").reshape(1, 3, 48, int(width))
            ms = median_ms(lambda: sess.run(None, {name: x}), rounds)
            outputs.append(sess.run(None, {name: x})[0].ravel())
            print(f"line{i}_ort_ms {ms:.2f}")
            total += ms
    print(f"ort_version {ort.__version__}")
    print(f"ort_rec_ms {total:.2f}")
    ours = np.concatenate(outputs)
    tract = np.fromfile(f"{tensors}/tract_probs.f32", dtype="<f4")
    print(f"tract_ort_max_prob_diff {float(np.abs(ours - tract).max()):.6f}")


if __name__ == "__main__":
    main()
