namespace Sockeye.Bench;

/// <summary>
/// The line protocol between a parent bench process and its children. The parent writes commands to
/// the child's standard input; the child writes events to its standard output, one per line:
/// <code>
/// child  → parent   ready
/// parent → child    go | measure | end
/// child  → parent   progress {ChildProgress json}   (every second)
/// child  → parent   result {BenchResult json}       (once, last)
/// </code>
/// </summary>
internal static class ChildProtocol
{
    public const string Ready = "ready";
    public const string Go = "go";
    public const string Measure = "measure";
    public const string End = "end";
    public const string Progress = "progress ";
    public const string Result = "result ";

    /// <summary>Hidden option that makes a bench process a child.</summary>
    public const string ChildOption = "--child";
}
