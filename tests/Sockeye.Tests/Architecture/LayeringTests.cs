using System.Reflection;
using NetArchTest.Rules;

namespace Sockeye.Tests.Architecture;

/// <summary>
/// The library's folders depend on each other one way only (ARCHITECTURE.md, "Layers"): the transport
/// moves bytes and knows nothing of frames or TLS; framing and timing know nothing of the transport;
/// diagnostics reads counter objects, never the servers; the library never reaches up into the host
/// integration or the CLI. Each rule is checked on the compiled assembly (signatures and IL bodies),
/// so a dependency hidden in a method body fails as surely as one in a field.
/// </summary>
public sealed class LayeringTests
{
    private static readonly Assembly Library = typeof(TcpServer).Assembly;

    public static TheoryData<string, string> ForbiddenDependencies => new()
    {
        { "Sockeye.Transport", "Sockeye.Framing" },
        { "Sockeye.Transport", "Sockeye.Security" },
        { "Sockeye.Framing", "Sockeye.Transport" },
        { "Sockeye.Timing", "Sockeye.Transport" },
        { "Sockeye.Diagnostics", "Sockeye.TcpServer" },
        { "Sockeye.Diagnostics", "Sockeye.Udp.UdpServer" },
        { "Sockeye", "Sockeye.Hosting" },
        { "Sockeye", "Sockeye.Cli" },
        { "Sockeye", "StackExchange.Redis" },
        { "Sockeye", "Sockeye.Redis" },
    };

    [Theory]
    [MemberData(nameof(ForbiddenDependencies))]
    public void NamespaceDoesNotDependOnTheLayerAboveIt(string layer, string forbidden)
    {
        var result = Types.InAssembly(Library)
            .That().ResideInNamespace(layer)
            .ShouldNot().HaveDependencyOn(forbidden)
            .GetResult();

        var offenders = result.FailingTypeNames ?? [];
        Assert.True(result.IsSuccessful, $"{layer} must not depend on {forbidden}; these types do: {string.Join(", ", offenders)}");
    }

    [Fact]
    public void TheRuleSeesADependencyThatExists()
    {
        // The check itself must be able to fail: the server front does use the transport.
        var result = Types.InAssembly(Library)
            .That().HaveName(nameof(TcpServer))
            .Should().HaveDependencyOn("Sockeye.Transport")
            .GetResult();

        Assert.True(result.IsSuccessful);
    }

    [Fact]
    public void TheLibraryReferencesNoAssemblyOfTheHostOrTheCli()
    {
        var names = Library.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain("Sockeye.Hosting", names);
        Assert.DoesNotContain("Sockeye.Cli", names);
        Assert.DoesNotContain("Sockeye.Bench", names);

        // The Redis backplane is a package of its own: Sockeye stays free of the Redis client.
        Assert.DoesNotContain("Sockeye.Redis", names);
        Assert.DoesNotContain("StackExchange.Redis", names);
    }
}
