import Foundation

/// Output formats of every listing.
public enum OutputFormat: String, CaseIterable, Sendable {
  /// `excel`: CSV as Excel on Chinese Windows reads it — UTF-8 with a byte-order mark (without
  /// it Excel takes the file for GBK and garbles every Chinese character) and CRLF line ends.
  case table, json, csv, excel
}

/// What a column holds, for JSON: numbers and booleans are written as such, not as text.
public enum ColumnKind: Sendable {
  case text, integer, number, boolean
}

/// Rows with named columns, printed as an aligned table, JSON or CSV.
///
/// JSON: an array of objects, one per row; keys are the column names in snake_case
/// ("open conflicts" → `open_conflicts`); values are strings unless `kinds` says a column holds
/// integers, numbers or yes/no (an empty or "-" cell is then `null`).
public struct Table: Sendable {
  public var columns: [String]
  public var rows: [[String]]
  /// Column name → kind; unnamed columns are text.
  public var kinds: [String: ColumnKind] = [:]

  public init(columns: [String], rows: [[String]] = []) {
    self.columns = columns
    self.rows = rows
  }

  public func render(_ format: OutputFormat) -> String {
    switch format {
    case .table: aligned()
    case .json: json()
    case .csv: csv()
    case .excel: "\u{FEFF}" + csv(lineEnd: "\r\n")
    }
  }

  /// Columns padded to the widest cell, counting CJK characters as two columns wide, as a
  /// terminal shows them.
  public func aligned() -> String {
    var widths = columns.map(Self.displayWidth)
    for row in rows {
      for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], Self.displayWidth(cell)) }
    }
    func line(_ cells: [String]) -> String {
      cells.enumerated().map { i, cell in
        let pad = widths[i] - Self.displayWidth(cell)
        return i == cells.count - 1 ? cell : cell + String(repeating: " ", count: max(0, pad))
      }.joined(separator: "  ")
    }
    var out = [line(columns), line(widths.map { String(repeating: "-", count: $0) })]
    out += rows.map(line)
    return out.joined(separator: "\n")
  }

  public static func key(_ column: String) -> String {
    column.lowercased().map { $0 == " " || $0 == "-" ? "_" : String($0) }.joined()
  }

  func jsonValue(_ cell: String, column: String) -> Any {
    let empty = cell.isEmpty || cell == "-"
    switch kinds[column] ?? .text {
    case .text:
      return cell
    case .integer:
      if let value = Int64(cell) { return NSNumber(value: value) }
    case .number:
      if let value = Double(cell) { return NSNumber(value: value) }
    case .boolean:
      if cell == "yes" { return true }
      if cell == "no" { return false }
    }
    return empty ? NSNull() : cell
  }

  public func json() -> String {
    let objects = rows.map { row in
      Dictionary(uniqueKeysWithValues: zip(columns, row).map { (Self.key($0), jsonValue($1, column: $0)) })
    }
    let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }

  public func csv(lineEnd: String = "\n") -> String {
    func field(_ s: String) -> String {
      s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
        ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
    return ([columns] + rows).map { $0.map(field).joined(separator: ",") }.joined(separator: lineEnd)
  }

  /// Columns a string takes on a terminal: East Asian wide and fullwidth characters take two.
  public static func displayWidth(_ s: String) -> Int {
    s.unicodeScalars.reduce(0) { width, scalar in
      if scalar.properties.generalCategory == .nonspacingMark || scalar.value == 0x200D { return width }
      return width + (isWide(scalar.value) ? 2 : 1)
    }
  }

  static func isWide(_ v: UInt32) -> Bool {
    (0x1100...0x115F).contains(v) || (0x2E80...0x303E).contains(v) || (0x3041...0x33FF).contains(v)
      || (0x3400...0x4DBF).contains(v) || (0x4E00...0x9FFF).contains(v) || (0xA000...0xA4CF).contains(v)
      || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v)
      || (0xFF00...0xFF60).contains(v) || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v)
      || (0x1F900...0x1F9FF).contains(v) || (0x20000...0x3FFFD).contains(v)
  }
}
