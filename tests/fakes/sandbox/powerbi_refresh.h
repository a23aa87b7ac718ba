/* powerbi_refresh: Power BI dataset refreshes and the admin scanner
 * (specs/powerbi/swagger.json: Datasets_RefreshDataset[InGroup],
 * Datasets_GetRefreshHistory[InGroup], WorkspaceInfo_PostWorkspaceInfo,
 * WorkspaceInfo_GetScanStatus, WorkspaceInfo_GetScanResult), and their
 * control API under /_sandbox/powerbi/ (refreshables, scanner,
 * lineage-fixture). Refreshable datasets are the seeded lineage fixture's
 * (powerbi_scan.c) and those created through the control API; each has a
 * behaviour (how long a refresh queues and runs, how it ends) and its
 * refresh history. See docs/SANDBOX.md. */
#ifndef SB_POWERBI_REFRESH_H
#define SB_POWERBI_REFRESH_H

#include <stdbool.h>

#include <jansson.h>

#include "sandbox_http.h"

typedef struct sb_pbi_refresh sb_pbi_refresh_t;

/* NULL on allocation failure. _destroy(NULL) is a no-op. reset forgets
 * every refresh and scan and seeds the fixture's datasets again. */
sb_pbi_refresh_t *sb_pbi_refresh_new(void);
void sb_pbi_refresh_destroy(sb_pbi_refresh_t *r);
void sb_pbi_refresh_reset(sb_pbi_refresh_t *r);

/* Whether the request is a refresh, scanner or their control route; fills
 * route when so. Must be tried before sb_powerbi_match and
 * sb_control_match. */
bool sb_pbi_refresh_match(const sb_request_t *req, sb_route_t *route);

/* Append the refreshable datasets of group (NULL: My workspace) to value
 * (a JSON array), as GET datasets lists them. */
void sb_pbi_refresh_list(const sb_state_t *st, const char *group, json_t *value);

/* ---- powerbi_scan.c ------------------------------------------------------ */

/* The seeded fixture: {"workspaces": [...], "datasourceInstances": [...]}
 * in the scanResult shape (borrowed; lives as long as the program). */
const json_t *sb_pbi_fixture(void);

/* The lineage graph of the fixture as datafleet must extract it
 * ({"nodes", "edges"}, namespace "powerbi://<tenant>"; new reference). */
json_t *sb_pbi_fixture_lineage(const char *tenant);

/* Scanner handlers (routes set by sb_pbi_refresh_match). */
void sb_pbi_scan_post(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                      sb_response_t *res);
void sb_pbi_scan_status(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res);
void sb_pbi_scan_result(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                        sb_response_t *res);
/* GET/POST /_sandbox/powerbi/scanner: the scans and the scan duration. */
void sb_pbi_scan_control(sb_state_t *st, const sb_request_t *req, const sb_route_t *route,
                         sb_response_t *res);

typedef struct sb_pbi_scans sb_pbi_scans_t;
sb_pbi_scans_t *sb_pbi_scans_new(void);
void sb_pbi_scans_destroy(sb_pbi_scans_t *s);
void sb_pbi_scans_reset(sb_pbi_scans_t *s);
sb_pbi_scans_t *sb_pbi_refresh_scans(sb_pbi_refresh_t *r);

#endif
