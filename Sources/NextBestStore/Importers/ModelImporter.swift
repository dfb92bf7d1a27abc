import Foundation
import NextBestCore
import NextBestONNX

/// Imports a propensity model file under an id; a model already stored under that id is replaced and
/// its version incremented. The model's features must all be profile columns of the store.
public enum ModelImporter {
    public static func run(file: String, id: String, format: ModelFormat, store: Store) throws -> (ImportReport, PropensityModel) {
        try run(file: file, id: id, format: Optional(format), featureNames: nil, store: store)
    }

    /// Imports `file` (`-`: standard input; gzip data is decompressed) in `format`, or in the format its
    /// content shows when `format` is nil (`--format auto`). `featureNames` replace the model's own
    /// (`--feature-names`; required for a model that carries none).
    public static func run(file: String, id: String, format: ModelFormat?, featureNames: [String]?, store: Store) throws -> (ImportReport, PropensityModel) {
        guard !id.isEmpty, id.utf8.count < 256 else { throw ImportError(file: file, line: nil, key: "--id", reason: "model id must be 1 to 255 bytes") }
        let input = try InputFile(path: file)
        let data = try input.readAll()
        let chosen: ModelFormat
        do { chosen = try format ?? ModelFormat.detect(data, file: input.name) }
        catch { throw ImportError(file: input.name, line: nil, key: "--format auto", reason: "\(error)") }
        let kind: PropensityModel.Kind
        do { kind = try chosen == .onnx ? ONNXReader.read(data, featureNames: featureNames) : chosen.parse(data, featureNames: featureNames) }
        catch { throw ImportError(file: input.name, line: nil, reason: "not a valid \(chosen.rawValue) model: \(error)") }
        return try store.env.write { txn in
            guard let schema = try store.schema(in: txn) else {
                throw ImportError(file: input.name, line: nil, reason: "the store has no profiles yet; import profiles first so model features can be matched to columns")
            }
            let previous = try store.model(id, in: txn)
            let model = PropensityModel(id: id, version: (previous?.version ?? 0) + 1, kind: kind)
            if let missing = model.missingFeatures(in: schema).first {
                throw ImportError(file: input.name, line: nil, key: "feature \(Quoted.text(missing))",
                                  reason: missingColumn(missing, model: model, schema: schema))
            }
            // A model that reads a text column as a number (or text categories from a numeric column).
            do { _ = try model.bound(to: schema) } catch {
                throw ImportError(file: input.name, line: nil, reason: "\(error)")
            }
            try store.putModel(model, in: txn)
            return (ImportReport(kind: "model '\(id)' v\(model.version)", rows: 1, added: previous == nil ? 1 : 0, replaced: previous == nil ? 0 : 1, skipped: 0), model)
        }
    }

    /// The refusal of a model feature the store lacks; for XGBoost's default names (`f0`, `f1`, …, a
    /// model trained without names) it says how to name them.
    static func missingColumn(_ missing: String, model: PropensityModel, schema: FeatureSchema) -> String {
        var s = "model uses column \(Quoted.text(missing)), which the store's profiles lack (store columns: \(schema.names.prefix(8).joined(separator: ", "))\(schema.count > 8 ? ", …" : ""))"
        if ModelFormat.areXGBoostDefaultNames(model.features) {
            s += "; the model's features are XGBoost's default names f0…f\(model.features.count - 1) (trained without names): name them in training order with --feature-names"
        }
        return s
    }
}
