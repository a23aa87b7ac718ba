/* google_sheets: the `google_sheets` connector kind: exports into one sheet
 * (tab) of a Google spreadsheet through the Sheets API v4, as a service
 * account (google_sheets_api.h). Modes append (values.append), replace
 * (values.clear, then values.update) and upsert by key columns (in-place
 * values:batchUpdate, the rest appended); probe gets a token and the
 * configured spreadsheet. docs/CONNECTORS.md ("Google Sheets") describes
 * the target, the type conversion, the limits, the costs and the guarantee
 * that a resumed append writes no row twice. */
#ifndef DF_GOOGLE_SHEETS_H
#define DF_GOOGLE_SHEETS_H

#include "connector.h"

extern const df_connector_ops_t df_connector_google_sheets;

#endif
