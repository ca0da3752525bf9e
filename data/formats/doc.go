// Package formats holds lightbeam's input parsers, plain Go without Beam:
// the preprocess pipeline wraps them in DoFns.
//
// Each parser reads one source (a file, or a chunk of one) and hands
// rows.Blocks of a fixed number of rows to an Emit callback; records it
// refuses go to a reject callback as a Reject (file, record, reason) and
// the parse goes on. Errors are for the source as a whole (a bad header, a
// truncated file, a read error) and name the file.
//
//   - IDX (MNIST): ParseIDX reads an image file and a label file in lock
//     step into dense blocks of raw pixels 0..255. OpenMaybeGzip and
//     FindMNIST help open the four standard files.
//   - CSV with a header: NewCSVSchema maps columns to features (numbers,
//     one-hot or hashed categories) and a label; ScanCategories and
//     SetVocab fix the categorical layout in a first pass; ParseCSV fills
//     dense blocks.
//   - LIBSVM: ParseLIBSVM fills sparse (CSR) blocks; ScanLIBSVM finds the
//     feature count in a first pass when it is not given.
//   - Record formats, whose records name their fields: JSON Lines
//     (ParseJSONL), TFRecord files of tf.Example (ParseTFRecord) and
//     Parquet (OpenParquet, ScanParquet, ParseParquet: row groups, only
//     the needed leaf columns, numeric ones a page at a time; every page
//     header checked by parquet_guard.go before parquet-go reads it).
//     ScanJSONLFields, ScanTFRecordFields and
//     ScanParquet find the fields; a CSVSchema over the field names lays
//     them out, array fields as vectors (SetVectors), PNG/JPEG fields as
//     images (SetImages, SetRawImage for raw pixels), and one record
//     parser (record.go) fills rows from fields given in any order,
//     absent ones being missing.
//
// Line-based formats split into chunks at line ends (ChunkLines) so that
// chunks parse in parallel; a record is always one line. Every row's ID is
// rows.RecordID(base name, record number), the record number being the one
// a Reject would carry: the 1-based line number for CSV, LIBSVM and JSON
// Lines, the 0-based index for IDX, TFRecord and Parquet (the row's index
// in its file, whatever row group it is in).
//
// Numbers parse to exactly the float32 that strconv.ParseFloat(s, 32)
// gives, through a fast path for plain decimals; NaN and infinite literals
// are rejected, so a NaN in a block always means "missing" (CSVOptions
// Missing "mean"), for the scale step to impute.
package formats
