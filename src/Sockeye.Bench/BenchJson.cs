using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sockeye.Bench;

/// <summary>The JSON shapes <c>sockeye bench</c> writes: the <c>--json</c> report and the lines
/// between a parent and its child processes.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(BenchResult))]
[JsonSerializable(typeof(ChildProgress))]
internal sealed partial class BenchJson : JsonSerializerContext
{
}

/// <summary>A child's progress line: its counters and the latencies of the last interval (encoded).</summary>
internal sealed record ChildProgress(long Open, long Operations, long Errors, long Mismatches, string Interval);
