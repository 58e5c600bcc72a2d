namespace Sockeye.Tests.Inherited;

public class SocketActivationTests
{
    [Fact]
    public void SocketsMeantForThisProcessStartAtThreeWithTheirNames()
    {
        var sockets = SocketActivation.Parse("4242", "2", "web:admin", ourPid: 4242);

        Assert.Equal([new ActivatedSocket(3, "web"), new ActivatedSocket(4, "admin")], sockets);
    }

    [Fact]
    public void SocketsWithoutNamesAreCalledUnknown()
    {
        var sockets = SocketActivation.Parse("7", "1", null, ourPid: 7);

        Assert.Equal([new ActivatedSocket(3, "unknown")], sockets);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("999")]
    public void NoSocketsAreTakenWhenListenPidIsUnsetOrNamesAnotherProcess(string? listenPid)
    {
        // Another process: a child that inherited the parent's environment must not take its sockets.
        Assert.Empty(SocketActivation.Parse(listenPid, "1", null, ourPid: 7));
    }

    [Theory]
    [InlineData("x7", "1", null, "LISTEN_PID must be a process id, got 'x7'")]
    [InlineData("7", "two", null, "LISTEN_FDS must be a number of descriptors from 0 to 4096, got 'two' (LISTEN_PID 7 is this process)")]
    [InlineData("7", "-1", null, "LISTEN_FDS must be a number of descriptors from 0 to 4096, got '-1' (LISTEN_PID 7 is this process)")]
    [InlineData("7", "2", "web", "LISTEN_FDNAMES names 1 sockets ('web') but LISTEN_FDS is 2")]
    public void MalformedVariablesAreRefusedNamingTheVariableAndValue(string listenPid, string listenFds, string? names, string message)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => SocketActivation.Parse(listenPid, listenFds, names, ourPid: 7));
        Assert.Equal(message, ex.Message);
    }
}
