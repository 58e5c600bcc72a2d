namespace Sockeye.Cli.Observability;

/// <summary>What <c>/readyz</c> says about something the server depends on besides its listener (the
/// chat's backplane): a line for the body, and whether it holds readiness back.</summary>
/// <param name="Line">The body's line, without its <c>\n</c>: <c>backplane: connected</c>.</param>
/// <param name="NotReady">Why the instance is not ready because of it (503), or null when it does not
/// hold readiness back, whatever its state.</param>
internal sealed record ReadinessLine(string Line, string? NotReady);
