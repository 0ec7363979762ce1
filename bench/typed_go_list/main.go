// typed_go_list: the initial LIST of a client-go pod informer, rebuilt with the Go standard library
// only (client-go is not available here), to compare with informer_bench on the same server.
//
//	typed_go_list --server http://127.0.0.1:PORT [--page-size 100] [--namespace NS]
//	              [--label-selector SEL] [--gzip] [--kind-sniff=true] [--strict]
//
// What it does, as client-go's reflector + pager + JSON serializer + informer cache would:
//   - one net/http client (keep-alive, HTTP/1.1 on plain http), Accept: application/json;
//   - GET .../pods?limit=N, then again with continue=<metadata.continue> until it is empty;
//   - each response body read whole (io.ReadAll), then, like apimachinery's JSON serializer, one
//     encoding/json pass over the body for apiVersion/kind (--kind-sniff, on by default) and one
//     json.Unmarshal into a typed PodList (types.go);
//   - the items of all pages gathered into one slice (as the pager aggregates pages into one list),
//     then a pointer to each put in a map keyed namespace/name (the informer's indexer), all kept
//     alive until the figures are taken.
//
// Not done: protobuf, resource.Quantity parsing (quantities stay strings), DeltaFIFO and event
// handlers, the watch that follows the list, resourceVersion=0 on the first page (a real apiserver
// then answers from its watch cache).
//
// Prints one JSON line: {"pods", "pages", "bytes", "seconds" (wall, list+decode+cache),
// "cpuSeconds" (user+sys during that, getrusage), "processCpuSeconds", "peakRssMiB" (ru_maxrss, as
// informer_bench reports), "vmHwmMiB"}.
//
// --strict is a one-off fidelity check instead of a measurement: each page is decoded with
// DisallowUnknownFields (fails on any served field types.go does not cover) and each typed pod is
// encoded again and compared with the page decoded into map[string]any (fails on any value lost).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(usage.Utime) + tv(usage.Stime)
}

// vmHwmKiB is VmHWM of /proc/self/status: like ru_maxrss, but of this program's own address space
// only (ru_maxrss keeps, across execve, the high-water mark of the process that forked it).
func vmHwmKiB() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kib int64
			fmt.Sscan(strings.TrimPrefix(line, "VmHWM:"), &kib)
			return kib
		}
	}
	return 0
}

func peakRssKiB() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return int64(usage.Maxrss) // KiB on Linux
}

type lister struct {
	client    *http.Client
	base      string
	pageSize  int
	selector  string
	kindSniff bool
}

func (l *lister) page(token string) ([]byte, error) {
	query := url.Values{}
	query.Set("limit", fmt.Sprint(l.pageSize))
	if l.selector != "" {
		query.Set("labelSelector", l.selector)
	}
	if token != "" {
		query.Set("continue", token)
	}
	req, err := http.NewRequest("GET", l.base+"?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, */*")
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", req.URL, resp.Status, body)
	}
	return body, nil
}

// sniffKind is what apimachinery's JSON serializer does before decoding: a full encoding/json pass
// over the body into {apiVersion, kind} to pick the Go type.
func sniffKind(body []byte) (TypeMeta, error) {
	var kind TypeMeta
	err := json.Unmarshal(body, &kind)
	return kind, err
}

func (l *lister) decode(body []byte) (*PodList, error) {
	if l.kindSniff {
		kind, err := sniffKind(body)
		if err != nil {
			return nil, err
		}
		if kind.Kind != "PodList" {
			return nil, fmt.Errorf("unexpected kind %q", kind.Kind)
		}
	}
	list := &PodList{}
	if err := json.Unmarshal(body, list); err != nil {
		return nil, err
	}
	return list, nil
}

func measure(l *lister) error {
	startCPU := cpuSeconds()
	started := time.Now()
	var items []Pod // the pager's aggregated list
	pages, bytesRead := 0, 0
	token := ""
	for {
		body, err := l.page(token)
		if err != nil {
			return err
		}
		pages++
		bytesRead += len(body)
		list, err := l.decode(body)
		if err != nil {
			return err
		}
		items = append(items, list.Items...)
		token = list.Continue
		if token == "" {
			break
		}
	}
	cache := make(map[string]*Pod, len(items)) // the informer's indexer
	for i := range items {
		cache[items[i].Namespace+"/"+items[i].Name] = &items[i]
	}
	seconds := time.Since(started).Seconds()
	cpu := cpuSeconds() - startCPU
	rss := peakRssKiB()
	hwm := vmHwmKiB()
	out, _ := json.Marshal(map[string]any{
		"pods": len(cache), "pages": pages, "bytes": bytesRead, "seconds": seconds, "cpuSeconds": cpu,
		"processCpuSeconds": cpuSeconds(), "peakRssMiB": float64(rss) / 1024,
		"vmHwmMiB":  float64(hwm) / 1024,
		"goVersion": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0),
	})
	fmt.Println(string(out))
	runtime.KeepAlive(cache)
	runtime.KeepAlive(items)
	return nil
}

// prune drops nulls, empty objects and empty arrays, which encoding a typed struct adds or drops
// without losing anything (omitempty, Time's null), so that only lost or changed values differ.
func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			if p := prune(x); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := []any{}
		for _, x := range t {
			out = append(out, prune(x)) // keep positions
		}
		if len(out) == 0 {
			return nil
		}
		return out
	default:
		return v
	}
}

// firstDifference describes where a and b first differ ("" if they do not).
func firstDifference(path string, a, b any) string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: served %v, typed round trip %v", path, a, b)
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if d := firstDifference(path+"."+k, x[k], y[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s: served %v, typed round trip %v", path, a, b)
		}
		for i := range x {
			if d := firstDifference(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); d != "" {
				return d
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(a, b) {
			return fmt.Sprintf("%s: served %v, typed round trip %v", path, a, b)
		}
		return ""
	}
}

func strict(l *lister) error {
	token := ""
	pods, pages := 0, 0
	for {
		body, err := l.page(token)
		if err != nil {
			return err
		}
		pages++
		var list PodList
		decoder := json.NewDecoder(bytes.NewReader(body))
		decoder.DisallowUnknownFields()
		if err := decoder.Decode(&list); err != nil {
			return fmt.Errorf("page %d: a served field types.go does not cover: %w", pages, err)
		}
		var untyped struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(body, &untyped); err != nil {
			return err
		}
		if len(untyped.Items) != len(list.Items) {
			return fmt.Errorf("page %d: %d items typed, %d untyped", pages, len(list.Items), len(untyped.Items))
		}
		for i := range list.Items {
			encoded, err := json.Marshal(&list.Items[i])
			if err != nil {
				return err
			}
			var again map[string]any
			if err := json.Unmarshal(encoded, &again); err != nil {
				return err
			}
			if d := firstDifference(list.Items[i].Name, prune(untyped.Items[i]), prune(again)); d != "" {
				return fmt.Errorf("typed decoding loses or changes a value: %s", d)
			}
		}
		pods += len(list.Items)
		token = list.Continue
		if token == "" {
			break
		}
	}
	out, _ := json.Marshal(map[string]any{"strict": "ok", "pods": pods, "pages": pages})
	fmt.Println(string(out))
	return nil
}

func main() {
	server := flag.String("server", "", "API server base URL, e.g. http://127.0.0.1:PORT (plain HTTP, no auth)")
	pageSize := flag.Int("page-size", 100, "LIST page size (limit)")
	namespace := flag.String("namespace", "", "list pods of this namespace only (default: all namespaces)")
	selector := flag.String("label-selector", "", "labelSelector of the LIST")
	gzip := flag.Bool("gzip", false, "ask for gzip (client-go's default; our C++ client never asks, so off by default)")
	kindSniff := flag.Bool("kind-sniff", true, "parse each body for apiVersion/kind first, as apimachinery's JSON serializer does")
	strictMode := flag.Bool("strict", false, "check that types.go covers every served field and value, then exit")
	flag.Parse()
	if *server == "" {
		fmt.Fprintln(os.Stderr, "--server is required")
		os.Exit(2)
	}
	base := strings.TrimRight(*server, "/") + "/api/v1/pods"
	if *namespace != "" {
		base = strings.TrimRight(*server, "/") + "/api/v1/namespaces/" + url.PathEscape(*namespace) + "/pods"
	}
	transport := &http.Transport{DisableCompression: !*gzip, MaxIdleConnsPerHost: 1}
	l := &lister{client: &http.Client{Transport: transport, Timeout: 60 * time.Second}, base: base,
		pageSize: *pageSize, selector: *selector, kindSniff: *kindSniff}
	var err error
	if *strictMode {
		err = strict(l)
	} else {
		err = measure(l)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "typed_go_list:", err)
		os.Exit(1)
	}
}
