// Command crdcheck validates the Prometheus Operator resources in rendered manifests, which
// kubeconform has no schema for: each ServiceMonitor and PrometheusRule is decoded strictly
// into the operator's own Go types (an unknown or mistyped field fails), and every rule's
// expression is parsed by Prometheus' PromQL parser.
//
//	helm template ... | crdcheck
//
// Other resources are left to kubeconform; a monitoring.coreos.com kind it does not know
// fails, so a new kind in the chart cannot pass unchecked.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func main() {
	checked, err := check(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crdcheck:", err)
		os.Exit(1)
	}
	fmt.Printf("crdcheck: %d Prometheus Operator resources valid\n", checked)
}

func check(input io.Reader) (int, error) {
	reader := k8syaml.NewYAMLReader(bufio.NewReader(input))
	checked := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return checked, nil
		}
		if err != nil {
			return checked, err
		}
		var meta typeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return checked, fmt.Errorf("not a manifest: %w", err)
		}
		if !strings.HasPrefix(meta.APIVersion, "monitoring.coreos.com/") {
			continue
		}
		name := fmt.Sprintf("%s %s/%s", meta.APIVersion, meta.Kind, meta.Metadata.Name)
		if err := checkMonitoring(meta, doc); err != nil {
			return checked, fmt.Errorf("%s: %w", name, err)
		}
		checked++
	}
}

func checkMonitoring(meta typeMeta, doc []byte) error {
	if meta.APIVersion != "monitoring.coreos.com/v1" {
		return errors.New("unknown API version")
	}
	switch meta.Kind {
	case "ServiceMonitor":
		var monitor monitoringv1.ServiceMonitor
		if err := yaml.UnmarshalStrict(doc, &monitor); err != nil {
			return err
		}
		if len(monitor.Spec.Endpoints) == 0 {
			return errors.New("no endpoints")
		}
		return nil
	case "PrometheusRule":
		var rule monitoringv1.PrometheusRule
		if err := yaml.UnmarshalStrict(doc, &rule); err != nil {
			return err
		}
		return checkRules(rule)
	default:
		return errors.New("a kind crdcheck cannot validate")
	}
}

func checkRules(rule monitoringv1.PrometheusRule) error {
	promql := parser.NewParser(parser.Options{})
	for _, group := range rule.Spec.Groups {
		if len(group.Rules) == 0 {
			return fmt.Errorf("group %q has no rules", group.Name)
		}
		for _, r := range group.Rules {
			if (r.Alert == "") == (r.Record == "") {
				return fmt.Errorf("group %q: a rule needs either alert or record", group.Name)
			}
			if _, err := promql.ParseExpr(r.Expr.String()); err != nil {
				return fmt.Errorf("rule %s%s: %w", r.Alert, r.Record, err)
			}
		}
	}
	return nil
}
