package kafka

import (
	"testing"

	"github.com/berth-run/berth/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainCheckingLeaks(m, "berth/worker/kafka.") }
