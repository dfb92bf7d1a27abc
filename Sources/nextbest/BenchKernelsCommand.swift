import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// `nextbest bench-kernels --store DIR [--customers K] [--threads T]`: times the model evaluation alone
/// (no store reads, no rules) on the first K customers held in memory, per model kind, and prints one
/// JSON object. The bench harness sets it beside XGBoost's `inplace_predict` and numpy on the same rows.
/// `--model ID` times that one model alone, whatever its kind (no campaign needed): `bench/formats.py`
/// sets it beside LightGBM's, XGBoost's and onnxruntime's predict.
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Time the model kernels alone (trees, logistic) on customers held in memory; print JSON.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Customers to load (the first ones by id).") var customers: Int = 200_000
    @Option(help: "Threads (each takes an equal part of the customers).") var threads: Int = 1
    @Option(help: "Times each kernel runs; the fastest is reported.") var repeats: Int = 3
    @Option(help: "Time this model alone (any kind; the store needs no campaign).") var model: String?

    func run() throws {
        try reportingErrors {
            let store = try Store(path: storeOptions.store, readOnly: true)
            let (schema, planned): (FeatureSchema, [BoundModel]) = try {
                guard let id = model else { let plan = try store.scoringPlan(); return (plan.schema, plan.models) }
                return try store.env.read { txn in
                    guard let schema = try store.schema(in: txn) else { throw StoreError.missing("the store has no profiles") }
                    guard let m = try store.model(id, in: txn) else { throw StoreError.missing("the store has no model \(Quoted.text(id))") }
                    return (schema, [try m.bound(to: schema)])
                }
            }()
            let f = schema.count
            var rows = [Float]()
            rows.reserveCapacity(customers * f)
            var scratch = [Float](repeating: 0, count: f)
            var n = 0
            try store.env.read { txn in
                try txn.scan(store.profiles) { k, v in
                    let r = scratch.withUnsafeMutableBufferPointer { ProfileCodec.decode(v, featureCount: f, into: $0) }
                    if case .failure(let e) = r { throw StoreError.corrupt(database: "profiles", key: "\(Array(k))", reason: e.description) }
                    rows.append(contentsOf: scratch)
                    n += 1
                    return n < customers
                }
            }
            let x = rows
            let count = n
            let t = max(1, min(threads, count))
            func time(_ kind: BoundModel.Kind?) -> (models: Int, seconds: Double, checksum: Double) {
                let models = planned.filter { kind == nil || $0.kind == kind }
                var best = Double.infinity
                var sum = 0.0
                for _ in 0..<max(1, repeats) {
                    let start = DispatchTime.now().uptimeNanoseconds
                    let sums = ParallelChunks.map(0..<t, threads: t) { part -> Double in
                        let lo = count * part / t, hi = count * (part + 1) / t
                        let bs = ShardScorer.blockSize
                        var out = [Float](repeating: 0, count: bs * max(models.count, 1))
                        var margins = [Float](repeating: 0, count: bs)
                        let kernel = TreeKernel.selected
                        let transpose = models.contains { $0.kind == .trees } && kernel == .avx512 && models.contains { $0.uses(kernel) }
                        var columns = FeatureColumns(featureCount: f)
                        var s = 0.0
                        x.withUnsafeBufferPointer { all in
                            out.withUnsafeMutableBufferPointer { o in
                                margins.withUnsafeMutableBufferPointer { mg in
                                    var i = lo
                                    while i < hi {
                                        let c = min(bs, hi - i)
                                        let block = UnsafeBufferPointer(rebasing: all[(i * f)..<((i + c) * f)])
                                        // Transposed once per block for every tree model, as the scoring loop does.
                                        if transpose { columns.fill(rows: block.baseAddress!, stride: f, count: c) }
                                        for (m, model) in models.enumerated() {
                                            model.propensities(block: block, stride: f, count: c, margins: mg,
                                                               out: UnsafeMutableBufferPointer(rebasing: o[m...]), outStride: models.count,
                                                               columns: transpose ? columns : nil, kernel: kernel)
                                        }
                                        for j in 0..<(c * models.count) { s += Double(o[j]) }
                                        i += c
                                    }
                                }
                            }
                        }
                        return s
                    }
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    best = min(best, seconds)
                    sum = sums.reduce(0, +)
                }
                return (models.count, best, sum)
            }
            func json(_ r: (models: Int, seconds: Double, checksum: Double)) -> String {
                let rate = r.seconds > 0 ? Double(count * r.models) / r.seconds / Double(t) : 0
                return "{\"models\":\(r.models),\"seconds\":\(String(format: "%.4f", r.seconds)),\"rows_models_per_s_per_core\":\(String(format: "%.0f", rate)),\"checksum\":\(String(format: "%.6f", r.checksum))}"
            }
            if let id = model {
                print("{\"customers\":\(count),\"threads\":\(t),\"tree_kernel\":\"\(TreeKernel.selected.rawValue)\",\"model\":\"\(id)\",\"kind\":\"\(planned[0].kind)\",\"result\":\(json(time(nil)))}")
                return
            }
            let trees = time(.trees), logistic = time(.logistic)
            print("{\"customers\":\(count),\"threads\":\(t),\"tree_kernel\":\"\(TreeKernel.selected.rawValue)\",\"trees\":\(json(trees)),\"logistic\":\(json(logistic))}")
        }
    }
}
